"""Settings read from the environment."""

from __future__ import annotations

import pytest

from xobito.devenv import DEVELOPMENT_DEFAULTS
from xobito.settings import Settings, SettingsError


def test_unmatched_statuses_are_listed_after_an_hour_by_default() -> None:
    assert Settings.from_env({}).unmatched_after_seconds == 3600


def test_unmatched_after_seconds_comes_from_the_environment() -> None:
    settings = Settings.from_env({"UNMATCHED_AFTER_SECONDS": "600"})

    assert settings.unmatched_after_seconds == 600


def test_unmatched_after_seconds_must_be_a_number() -> None:
    with pytest.raises(SettingsError, match="UNMATCHED_AFTER_SECONDS"):
        Settings.from_env({"UNMATCHED_AFTER_SECONDS": "an hour"})


def test_make_run_serves_a_prometheus_scrape_on_every_process() -> None:
    settings = Settings.from_env(DEVELOPMENT_DEFAULTS)

    assert settings.metrics_prometheus_port > 0
    assert settings.contacts_prometheus_port > 0
    assert settings.metrics_prometheus_port != settings.contacts_prometheus_port
