"""A simulated campaign ends with counters equal to its own ground truth."""

from __future__ import annotations

import asyncio

from tests.stack import Stack
from xobito.simulate import COUNTERS, simulate


def test_simulated_campaign_counters_equal_its_ground_truth(
    stack: Stack, api_key: str
) -> None:
    target = stack.simulation_target(api_key)

    _, truth, reported, _ = asyncio.run(
        simulate(target, recipients=300, seed=7, duration=0)
    )

    assert all(truth[name] > 0 for name in COUNTERS), truth
    assert reported == {name: truth[name] for name in COUNTERS}
