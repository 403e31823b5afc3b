"""A simulated campaign ends with counters equal to its own ground truth."""

from __future__ import annotations

import asyncio

from tests.stack import APP_SECRET, Stack
from xobito.simulate import COUNTERS, Target, simulate


def test_simulated_campaign_counters_equal_its_ground_truth(
    stack: Stack, api_key: str
) -> None:
    target = Target(
        metrics=stack.metrics_target,
        contacts=stack.contacts_target,
        ingest_url=stack.ingest_url,
        gateway_url=stack.gateway_url,
        app_secret=APP_SECRET,
        api_key=api_key,
        workspace="test",
    )

    _, truth, reported, _ = asyncio.run(
        simulate(target, recipients=300, seed=7, duration=0)
    )

    assert all(truth[name] > 0 for name in COUNTERS), truth
    assert reported == {name: truth[name] for name in COUNTERS}
