"""The value parsers: durations, URLs, timeouts and addresses."""

from __future__ import annotations

import pytest

from runner_agent.config import values


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("10", 10.0),
        ("0.2", 0.2),
        ("500ms", 0.5),
        ("10s", 10.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        (" 3 s ", 3.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_duration_reads_seconds_and_units(raw, seconds):
    assert values.duration(raw) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "raw",
    ["", "soon", "10x", "-1", "1.5.2s", "ms", True, 0, "0s", float("nan"), -2],
)
def test_duration_refuses_anything_else(raw):
    with pytest.raises(ValueError, match="duration"):
        values.duration(raw)


def test_a_default_timeout_shrinks_to_half_a_short_interval():
    assert values.fit_timeout(5.0, 1.0, configured=False, interval_name="x") == 0.5
    assert values.fit_timeout(5.0, 60.0, configured=False, interval_name="x") == 5.0


def test_a_configured_timeout_must_end_before_the_interval():
    fits = values.fit_timeout(0.9, 1.0, configured=True, interval_name="x")

    with pytest.raises(ValueError, match=r"^2s must be shorter than x \(1s\)$"):
        values.fit_timeout(2.0, 1.0, configured=True, interval_name="x")
    assert fits == 0.9


def test_an_http_url_loses_its_trailing_slash_unless_kept():
    url = "http://127.0.0.1:8080/health/"

    assert values.http_url(url) == "http://127.0.0.1:8080/health"
    assert values.http_url(url, strip_slash=False) == url


@pytest.mark.parametrize("url", ["ftp://host/", "http://", "https://u:p@host/"])
def test_an_http_url_refuses_other_schemes_and_credentials(url):
    with pytest.raises(ValueError, match="URL"):
        values.http_url(url, strip_slash=False)


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1:9713"),
        ("::1", "[::1]:9713"),
        ("localhost", "localhost:9713"),
    ],
)
def test_host_port_brackets_ipv6_hosts(host, shown):
    assert values.host_port(host, 9713) == shown
