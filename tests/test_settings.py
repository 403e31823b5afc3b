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


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("GRAPHQL_MAX_DEPTH", "-1", "GRAPHQL_MAX_DEPTH must be at least 1, got -1"),
        ("INGEST_MAX_IN_FLIGHT", "0", "INGEST_MAX_IN_FLIGHT must be at least 1"),
        (
            "INGEST_BODY_TIMEOUT_SECONDS",
            "0",
            "INGEST_BODY_TIMEOUT_SECONDS must be at least 1",
        ),
        ("GATEWAY_PORT", "70000", "GATEWAY_PORT must be at least 0 and at most 65535"),
        ("LOG_FORMAT", "yaml", "LOG_FORMAT must be one of auto, console, json"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of CRITICAL, DEBUG, ERROR"),
    ],
)
def test_a_setting_out_of_its_range_stops_the_start(
    name: str, value: str, says: str
) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env({name: value})


def test_zero_stands_where_it_means_none_and_names_any_case() -> None:
    settings = Settings.from_env(
        {"INGEST_BATCH_WAIT_MS": "0", "LOG_LEVEL": "debug", "LOG_FORMAT": "JSON"}
    )

    assert settings.ingest_batch_wait_ms == 0
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
