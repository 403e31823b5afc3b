"""Batches that touch the same recipients at once lose no update."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from tests.metrics.helpers import Metrics, status
from xobito.ingest.v1 import events_pb2 as ev

RANKS = {"sent": 2, "failed": 3, "delivered": 4, "read": 5}


def test_concurrent_batches_end_as_if_applied_one_by_one(metrics: Metrics) -> None:
    rng = random.Random(11)
    campaign_id = metrics.create().id
    phones = [f"1650555{n:04d}" for n in range(40)]
    metrics.send(campaign_id, *[(p, f"wamid.{p}", 0) for p in phones])
    batches: list[list[ev.StatusEvent]] = [
        [
            status(f"wamid.{rng.choice(phones)}", rng.choice(list(RANKS)), second)
            for second in rng.sample(range(1, 500), 30)
        ]
        for _ in range(8)
    ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda batch: metrics.record(*batch), batches))

    expected = {f"wamid.{p}": 2 for p in phones}
    for event in (e for batch in batches for e in batch):
        expected[event.wamid] = max(expected[event.wamid], RANKS[event.status])
    stored = dict(
        metrics.sql(
            "SELECT wamid, status FROM metrics.recipients WHERE campaign_id = %s",
            campaign_id,
        )
    )
    assert stored == expected
    shown = metrics.campaign(campaign_id).counters
    read = sum(rank == 5 for rank in expected.values())
    delivered = sum(rank >= 4 for rank in expected.values())
    failed = sum(rank == 3 for rank in expected.values())
    assert (shown.read, shown.delivered, shown.failed) == (read, delivered, failed)
