"""Emulator settings: generated keys and ids."""

from __future__ import annotations

import uuid

import pytest

from runner_agent.emulator import EmulatorSettings


def test_generated_keys_look_like_daytona_keys_and_differ():
    first, second = EmulatorSettings(), EmulatorSettings()

    keys = {
        first.organization_key,
        first.proxy_key,
        second.organization_key,
        second.proxy_key,
    }
    assert len(keys) == 4
    assert all(key.startswith("dtn_") and len(key) > 30 for key in keys)


def test_generated_region_and_organization_are_uuids_and_region_is_local():
    settings = EmulatorSettings()

    assert uuid.UUID(settings.region_id)
    assert uuid.UUID(settings.organization_id)
    assert settings.region_name == "local"


def test_defaults_follow_the_control_plane_timings():
    settings = EmulatorSettings()

    assert settings.check_interval == 10
    assert settings.unresponsive_after == 60
    assert settings.decommission_checks == 3


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"organization_key": "dtn_same", "proxy_key": "dtn_same"}, "differ"),
        ({"check_interval": 0}, "check_interval"),
        ({"unresponsive_after": -1}, "unresponsive_after"),
        ({"decommission_checks": 0}, "decommission_checks"),
    ],
)
def test_unusable_settings_are_refused(changes, reason):
    with pytest.raises(ValueError, match=reason):
        EmulatorSettings(**changes)
