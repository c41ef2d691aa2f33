"""Reading a request from a WSGI environ: the body and its length."""

from __future__ import annotations

import io

import pytest

from runner_agent.wsgi import HttpError, Request


def environ(length: str, body: bytes) -> dict[str, object]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/runners",
        "CONTENT_LENGTH": length,
        "wsgi.input": io.BytesIO(body),
    }


def test_the_body_is_read_to_its_length():
    request = Request.from_environ(environ("8", b'{"a": 1}trailing'))

    assert request.body == b'{"a": 1}'


@pytest.mark.parametrize(
    ("length", "body", "status"),
    [
        ("\u00b2", b"x", 400),  # a digit to str.isdigit, not to int()
        ("-1", b"x", 400),
        ("10", b"short", 400),
        ("11", b"x" * 11, 413),
    ],
)
def test_a_length_it_cannot_honour_is_an_http_error(length, body, status):
    with pytest.raises(HttpError) as refused:
        Request.from_environ(environ(length, body), max_body=10)

    assert refused.value.status == status
