"""``[[checks]]`` in the configuration: what is accepted; errors name the check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner_agent.config import load_config
from runner_agent.config.checks import CheckConfig, parse_checks
from runner_agent.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _load(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, env={})


def test_each_kind_follows_from_its_target(tmp_path):
    config = _load(
        tmp_path,
        """
        [[checks]]
        name = "registry"
        url = "http://127.0.0.1:5000/v2/"
        [[checks]]
        name = "redis"
        address = "[::1]:6379"
        [[checks]]
        name = "containerd"
        command = "systemctl is-active containerd"
        """,
    )

    kinds = [(c.name, c.kind) for c in config.checks]
    assert kinds == [("registry", "http"), ("redis", "tcp"), ("containerd", "command")]
    assert config.checks[0].url == "http://127.0.0.1:5000/v2/"
    assert config.checks[1].address == ("::1", 6379)
    assert config.checks[2].command == ("systemctl", "is-active", "containerd")


def test_defaults_report_at_once_every_ten_seconds():
    (check,) = parse_checks([{"name": "web", "url": "https://example.com/"}])

    assert check == CheckConfig(
        name="web",
        kind="http",
        url="https://example.com/",
        expected_status=200,
        timeout=5.0,
        interval=10.0,
        failures_before_unhealthy=1,
        successes_before_healthy=1,
        local_only=False,
    )


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('name = "a"\nurl = "ftp://x"', "checks[1].url", "not an http(s) URL"),
        ('name = "a"\naddress = "nohost"', "checks[1].address", "not host:port"),
        ('name = "a"\ncommand = []', "checks[1].command", "the command is empty"),
        ('url = "http://x/"', "checks[1].name", "every check needs a name"),
        ('name = "docker"\nurl = "http://x/"', "checks[1].name", "reserved"),
        ('name = "a"', "checks[1]", "exactly one of url"),
        ('name = "a"\nurl = "http://x/"\naddress = "x:1"', "checks[1]", "exactly one"),
        ('name = "a"\nurl = "http://x/"\nkind = "tcp"', "checks[1].kind", "match"),
        ('name = "a"\nurl = "http://x/"\ntimout = "1s"', "checks[1].timout", "timeout"),
        ('name = "a"\nurl = "http://x/"\nexpected_status = 99', "", "HTTP status"),
        ('name = "a"\naddress = "x:1"\nexpected_status = 200', "", "only http"),
        (
            'name = "a"\nurl = "http://x/"\ntimeout = "20s"',
            "checks[1].timeout",
            "shorter",
        ),
        ('name = "a"\nurl = "http://x/"\nfailures_before_unhealthy = 0', "", "from 1"),
        ('name = "web"\nurl = "http://x/"', "checks[1].name", "unique"),
    ],
)
def test_a_bad_check_is_named_by_its_key(tmp_path, table, key, message):
    text = f'[[checks]]\nname = "web"\nurl = "http://x/"\n\n[[checks]]\n{table}\n'

    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)

    assert caught.value.key.startswith(key or "checks[1].")
    assert message in caught.value.reason
    assert str(tmp_path / "config.toml") in str(caught.value)


def test_the_error_names_the_check_too(tmp_path):
    with pytest.raises(ConfigError, match="check 'registry'"):
        _load(tmp_path, '[[checks]]\nname = "registry"\nurl = "gopher://x"\n')


def test_checks_must_be_an_array_of_tables(tmp_path):
    with pytest.raises(ConfigError, match=r"\[\[checks\]\]"):
        _load(tmp_path, 'checks = "web"\n')


def test_the_example_checks_in_config_example_toml_load(tmp_path):
    text = (REPO / "config.example.toml").read_text()
    block = text[text.index("# [[checks]]") :]
    uncommented = re.sub(r"^# ?", "", block, flags=re.MULTILINE)

    config = _load(tmp_path, uncommented)

    assert [c.name for c in config.checks] == ["registry", "containerd", "dns"]
    assert config.checks[2].local_only is True


def test_a_check_describes_itself_for_config_show():
    (check,) = parse_checks(
        [{"name": "dns", "address": "127.0.0.53:53", "local_only": True}]
    )

    assert str(check) == "dns: tcp 127.0.0.53:53 every 10s, local only"
