"""A campaign streamed through a crash of every part loses and doubles nothing.

The small version of `make chaos` (see tests.chaos): one round in which
metrics and contacts are killed, Valkey is killed and comes back empty,
and PostgreSQL crashes, each while webhooks are in flight.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos import chaos_stack, run
from tests.stack import Stack


@pytest.fixture(scope="module")
def durable_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Servers and services of its own: this module crashes them."""
    with chaos_stack(tmp_path_factory.mktemp("chaos")) as stack:
        yield stack


def test_webhooks_through_a_round_of_faults_are_each_counted_once(
    durable_stack: Stack,
) -> None:
    report = run(durable_stack, recipients=150, rounds=1, seed=5, pause=0.3)

    assert report.faults == [
        "metrics killed",
        "contacts killed",
        "valkey killed, back empty",
        "postgres crashed",
    ]
    assert set(report.answers) == {200, 503}, "faults met no webhook"
    assert report.counters_off == {}
    assert (report.missing, report.repeated) == (0, 0)
    assert report.rows_wrong == 0
    assert report.set_aside == 0
