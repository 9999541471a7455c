"""The sync lock must outlive the sync's timeout, or two consumers could run one project."""

from __future__ import annotations

import pytest

from trackmaster.settings import SettingsError, load_settings


def test_lock_ttl_defaults_to_the_job_timeout_plus_a_minute() -> None:
    settings = load_settings({"SYNC_JOB_TIMEOUT_S": "120"}, env_file=None)
    assert settings.sync_lock_ttl_s == 180


def test_a_lock_ttl_shorter_than_the_job_timeout_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="SYNC_LOCK_TTL_S=60 must be longer than"):
        load_settings({"SYNC_JOB_TIMEOUT_S": "600", "SYNC_LOCK_TTL_S": "60"}, env_file=None)


def test_an_explicit_longer_lock_ttl_is_kept() -> None:
    settings = load_settings({"SYNC_JOB_TIMEOUT_S": "10", "SYNC_LOCK_TTL_S": "15"}, env_file=None)
    assert (settings.sync_job_timeout_s, settings.sync_lock_ttl_s) == (10, 15)
