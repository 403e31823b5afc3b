"""The live counters: equal to the rows, crash-safe, and watchable."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

import redis

from services.metrics import outbox
from services.metrics.counters import Counters
from services.metrics.ledger import Pool
from services.metrics.statuses import Tally
from tests.metrics.helpers import WORKSPACE, Metrics, status
from xobito.metrics.v1 import metrics_pb2 as pb

STATUSES = ["sent", "delivered", "read", "failed", "played"]


def _busy_campaign(metrics: Metrics, size: int = 60) -> str:
    """A campaign whose recipients went every which way."""
    rng = random.Random(7)
    campaign_id = metrics.create().id
    phones = [f"1650555{n:04d}" for n in range(size)]
    metrics.add(campaign_id, *phones)
    sends = [(p, f"wamid.{p}", 0) for p in phones[: size * 3 // 4]]
    metrics.send(campaign_id, *sends)
    metrics.reject(campaign_id, phones[-1], 131026)
    events = [
        status(wamid, rng.choice(STATUSES), rng.randint(1, 50), code=131026)
        for _, wamid, _ in sends
        for _ in range(rng.randint(0, 3))
    ]
    metrics.record(*events[: len(events) // 2])
    metrics.record(*events[len(events) // 2 :])
    return campaign_id


def _counted_from_rows(metrics: Metrics, campaign_id: str) -> dict[str, int]:
    (row,) = metrics.sql(
        """
        SELECT count(*) FILTER (WHERE wamid IS NOT NULL),
               count(*) FILTER (WHERE status IN (4, 5)),
               count(*) FILTER (WHERE status = 5),
               count(*) FILTER (WHERE status = 3),
               count(*)
        FROM metrics.recipients WHERE campaign_id = %s
        """,
        campaign_id,
    )
    return dict(zip(["sent", "delivered", "read", "failed", "total"], row, strict=True))


def _shown(campaign: pb.Campaign) -> dict[str, int]:
    c = campaign.counters
    return {
        "sent": c.sent,
        "delivered": c.delivered,
        "read": c.read,
        "failed": c.failed,
        "total": campaign.recipient_total,
    }


def test_counters_equal_a_count_over_the_rows(metrics: Metrics) -> None:
    campaign_id = _busy_campaign(metrics)

    assert _shown(metrics.campaign(campaign_id)) == _counted_from_rows(
        metrics, campaign_id
    )


def test_counters_lost_by_redis_are_rebuilt_from_the_rows(metrics: Metrics) -> None:
    campaign_id = _busy_campaign(metrics)
    before = metrics.campaign(campaign_id)

    redis.Redis.from_url(metrics.servers.valkey.url).flushdb()

    assert metrics.campaign(campaign_id) == before


def test_watch_sends_the_counters_then_each_change(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, "16505551234")
    metrics.send(campaign_id, ("16505551234", "wamid.A", 0))
    stream = metrics.stub.WatchCounters(
        pb.WatchCountersRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
        timeout=20,
    )

    updates = iter(stream)

    first = next(updates)
    metrics.record(status("wamid.A", "read", 5))
    second = next(updates)
    stream.cancel()  # type: ignore[no-untyped-call]

    assert (first.counters.sent, first.counters.read) == (1, 0)
    assert (second.counters.sent, second.counters.read) == (1, 1)
    assert second.status == pb.CAMPAIGN_STATUS_COMPLETED


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_watch_unsubscribes_when_the_client_goes_away(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    client = redis.Redis.from_url(metrics.servers.valkey.url)
    stream = metrics.stub.WatchCounters(
        pb.WatchCountersRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
        timeout=20,
    )
    next(iter(stream))

    def subscribers() -> int:
        ((_, count),) = client.pubsub_numsub(f"metrics:counters:{campaign_id}")
        return int(count)

    subscribed = subscribers()
    stream.cancel()  # type: ignore[no-untyped-call]

    assert subscribed == 1
    assert _eventually(lambda: subscribers() == 0)


def test_the_running_service_relays_leftover_rows(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, "16505551234")
    metrics.sql(
        "INSERT INTO metrics.counter_outbox (campaign_id, deltas, created_at)"
        " VALUES (%s, %s, now() - interval '1 minute')",
        campaign_id,
        json.dumps({"pending": 1}),
    )

    assert _eventually(lambda: metrics.campaign(campaign_id).recipient_total == 2)


def test_the_relay_applies_a_leftover_outbox_row_once(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, "16505551234")
    metrics.campaign(campaign_id)  # the hash exists before the crash
    # As if the service died between its commit and applying the row.
    metrics.sql(
        "INSERT INTO metrics.counter_outbox (campaign_id, deltas, created_at)"
        " VALUES (%s, %s, now() - interval '1 minute')",
        campaign_id,
        json.dumps({"pending": 1}),
    )

    async def relay_twice(counters: Counters, pool: Pool) -> list[int]:
        return [await counters.relay_once(), await counters.relay_once()]

    found = metrics.with_counters(relay_twice)

    assert found == [1, 0]
    assert metrics.campaign(campaign_id).recipient_total == 2
    assert metrics.sql("SELECT count(*) FROM metrics.counter_outbox") == [(0,)]


def test_applying_the_same_outbox_row_again_does_nothing(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, "16505551234")

    async def apply_twice(counters: Counters, pool: Pool) -> Tally:
        async with pool.connection() as conn:
            rows = await outbox.insert(conn, {campaign_id: {"pending": 1}})
        await counters.apply(rows)
        await counters.apply(rows)
        return await counters.tally(campaign_id)

    assert metrics.with_counters(apply_twice).pending == 2


def test_a_rebuild_includes_pending_outbox_rows_once(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, "16505551234")
    redis.Redis.from_url(metrics.servers.valkey.url).flushdb()
    # The rows changed and the outbox row committed, Redis not told yet.
    metrics.sql(
        "INSERT INTO metrics.recipients (campaign_id, phone) VALUES (%s, %s)",
        campaign_id,
        "16505551235",
    )
    metrics.sql(
        "INSERT INTO metrics.counter_outbox (campaign_id, deltas) VALUES (%s, %s)",
        campaign_id,
        json.dumps({"pending": 1}),
    )

    async def rebuild_then_relay(counters: Counters, pool: Pool) -> Tally:
        await counters.tally(campaign_id)
        await counters.relay_once(older_than_s=0)
        return await counters.tally(campaign_id)

    assert metrics.with_counters(rebuild_then_relay).pending == 2


def test_reconcile_reports_and_repairs_drift(metrics: Metrics) -> None:
    campaign_id = _busy_campaign(metrics)
    client = redis.Redis.from_url(metrics.servers.valkey.url)
    client.hincrby(f"metrics:{{{campaign_id}}}:counters", "read", 3)

    async def reconcile_twice(
        counters: Counters, pool: Pool
    ) -> tuple[dict[str, int], dict[str, int]]:
        drift = await counters.reconcile(campaign_id, repair=True)
        return drift, await counters.reconcile(campaign_id)

    drift, after = metrics.with_counters(reconcile_twice)

    assert (drift, after) == ({"read": 3}, {})
