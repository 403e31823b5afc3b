"""Shared subscriptions: one execution per update for every subscriber of
the same operation in the same workspace (gateway.broadcast), on the real
schema, in process, over a stand-in for metrics' WatchCounters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, cast

import orjson
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    NumberDataPoint,
)

from gateway import broadcast as broadcast_module
from gateway.broadcast import Broadcast, Frame, Rendering
from gateway.context import Context
from gateway.errors import NotFoundError
from gateway.live import Live
from gateway.schema import build
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.settings import Settings

COUNTERS = """
subscription Counters($id: ID!) {
  campaignCounters(campaignId: $id) { sent delivered sentPct }
}
"""
CAMPAIGN = "cmp_shared"


@dataclass
class Metrics:
    """Stands in for MetricsClient.watch_counters: one campaign of ws-one,
    sent=0 now, then whatever a test pushes."""

    watched: list[tuple[str, str]] = field(default_factory=list)
    changes: asyncio.Queue[int] = field(default_factory=asyncio.Queue)

    async def watch_counters(
        self, workspace_id: str, campaign_id: str
    ) -> AsyncGenerator[mpb.CampaignCounters, None]:
        self.watched.append((workspace_id, campaign_id))
        if (workspace_id, campaign_id) != ("ws-one", CAMPAIGN):
            raise NotFoundError(campaign_id)
        sent = 0
        while True:
            yield mpb.CampaignCounters(
                campaign_id=campaign_id,
                recipient_total=10,
                counters=mpb.Counters(sent=sent, delivered=sent // 2),
            )
            sent = await self.changes.get()


@dataclass
class Gateway:
    broadcast: Broadcast
    metrics: Metrics
    live: Live

    def context(self, workspace: str = "ws-one") -> Context:
        unused = cast("Any", None)
        return Context(
            clients=unused, pool=unused, live=self.live, workspace_id=workspace
        )

    def rendering(
        self, query: str = COUNTERS, workspace: str = "ws-one", **variables: Any
    ) -> Rendering:
        rendering = self.broadcast.rendering_of(
            query, variables or {"id": CAMPAIGN}, None, self.context(workspace)
        )
        assert rendering is not None
        return rendering


def run(
    test: Callable[[Gateway], Awaitable[None]], settings: Settings | None = None
) -> None:
    async def main() -> None:
        chosen = settings or Settings()
        metrics = Metrics()
        live = Live(cast("Any", metrics))
        broadcast = Broadcast(build(chosen), max_tokens=chosen.graphql_max_tokens)
        try:
            await test(Gateway(broadcast, metrics, live))
        finally:
            await live.close()

    asyncio.run(main())


def data(frame: Frame) -> dict[str, Any]:
    assert frame.type == "next"
    payload: dict[str, Any] = orjson.loads(frame.payload)
    return payload


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(3):
        while not check():
            await asyncio.sleep(0.01)


async def collect(stream: AsyncGenerator[Frame, None], into: list[Frame]) -> None:
    async with aclosing(stream):
        async for frame in stream:
            into.append(frame)


def test_subscribers_of_one_operation_share_each_serialized_update() -> None:
    async def test(gateway: Gateway) -> None:
        seen: list[list[Frame]] = [[] for _ in range(5)]
        tasks = [
            asyncio.create_task(
                collect(gateway.broadcast.subscribe(gateway.rendering()), into)
            )
            for into in seen
        ]
        await until(lambda: all(len(frames) == 1 for frames in seen))
        gateway.metrics.changes.put_nowait(4)
        await until(lambda: all(len(frames) == 2 for frames in seen))

        for frames in seen:
            assert frames[0] is seen[0][0] and frames[1] is seen[0][1]
        assert data(seen[0][1]) == {
            "data": {"campaignCounters": {"sent": 4, "delivered": 2, "sentPct": 40.0}}
        }
        assert gateway.broadcast.renderings() == 1
        assert gateway.metrics.watched == [("ws-one", CAMPAIGN)]
        for task in tasks:
            task.cancel()

    run(test)


def test_a_subscriber_with_another_selection_gets_its_own_shape() -> None:
    async def test(gateway: Gateway) -> None:
        other = "subscription ($id: ID!) { campaignCounters(campaignId: $id) { read } }"
        mine = gateway.broadcast.subscribe(gateway.rendering())
        theirs = gateway.broadcast.subscribe(gateway.rendering(other))

        first, second = await anext(mine), await anext(theirs)

        assert data(first)["data"]["campaignCounters"].keys() == {
            "sent",
            "delivered",
            "sentPct",
        }
        assert data(second) == {"data": {"campaignCounters": {"read": 0}}}
        assert gateway.broadcast.renderings() == 2
        # The renderings still share the campaign's one upstream stream.
        assert len(gateway.metrics.watched) == 1
        await mine.aclose()
        await theirs.aclose()

    run(test)


def test_another_workspace_never_shares_a_rendering() -> None:
    async def test(gateway: Gateway) -> None:
        mine = gateway.broadcast.subscribe(gateway.rendering())
        theirs = gateway.broadcast.subscribe(gateway.rendering(workspace="ws-two"))

        await anext(mine)
        refused = await anext(theirs)

        assert gateway.metrics.watched == [("ws-one", CAMPAIGN), ("ws-two", CAMPAIGN)]
        assert data(refused)["errors"][0]["message"] == "campaign not found"
        assert await anext(theirs, None) is None
        await mine.aclose()

    run(test)


def test_a_slow_subscriber_skips_to_the_newest_update() -> None:
    async def test(gateway: Gateway) -> None:
        fast: list[Frame] = []
        task = asyncio.create_task(
            collect(gateway.broadcast.subscribe(gateway.rendering()), fast)
        )
        slow = gateway.broadcast.subscribe(gateway.rendering())
        assert data(await anext(slow))["data"]["campaignCounters"]["sent"] == 0

        for sent in (1, 2, 3):
            gateway.metrics.changes.put_nowait(sent)
            await until(lambda n=sent: len(fast) == n + 1)  # type: ignore[misc]

        newest = await anext(slow)
        assert newest is fast[-1]
        assert data(newest)["data"]["campaignCounters"]["sent"] == 3
        await slow.aclose()
        task.cancel()

    run(test)


def test_a_document_over_a_guard_ends_with_an_error_frame() -> None:
    async def test(gateway: Gateway) -> None:
        aliased = """subscription ($id: ID!) {
          campaignCounters(campaignId: $id) { a: sent b: sent c: sent }
        }"""
        frames = gateway.broadcast.subscribe(gateway.rendering(aliased))

        refused = await anext(frames)

        assert refused.type == "error"
        assert "aliases" in orjson.loads(refused.payload)[0]["message"]
        assert await anext(frames, None) is None
        assert gateway.metrics.watched == []

    run(test, replace(Settings(), graphql_max_aliases=2))


def test_only_a_shared_field_subscription_is_shared() -> None:
    async def test(gateway: Gateway) -> None:
        context = gateway.context()
        others = [
            ("{ campaigns { totalCount } }", None),
            ("subscription { recipientUpdates(campaignId: 1) { phone } }", None),
            (COUNTERS, "Unknown"),
            ("subscription {", None),
        ]

        for query, operation_name in others:
            rendering = gateway.broadcast.rendering_of(
                query, {}, operation_name, context
            )
            assert rendering is None, query
        assert gateway.broadcast.rendering_of(COUNTERS, [], None, context) is None

    run(test)


def test_the_gauge_counts_each_subscription_not_each_rendering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    monkeypatch.setattr(
        broadcast_module, "subscriptions", meter.create_up_down_counter("gauge")
    )

    def counted() -> dict[str, int]:
        data = reader.get_metrics_data()
        assert data is not None
        (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
        points = metric.data.data_points
        return {
            str((point.attributes or {})["subscription"]): int(point.value)
            for point in points
            if isinstance(point, NumberDataPoint)
        }

    async def test(gateway: Gateway) -> None:
        streams = [gateway.broadcast.subscribe(gateway.rendering()) for _ in "abc"]
        for stream in streams:
            await anext(stream)

        assert counted() == {"campaignCounters": 3}
        for stream in streams:
            await stream.aclose()
        assert counted() == {"campaignCounters": 0}

    run(test)
