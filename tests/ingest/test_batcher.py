"""Webhooks in flight together share their hand-off to metrics and contacts.

The hand-off here is a stand-in that records what it is given and
answers when the test lets it: the batcher's subject is what it sends
and who gets which answer, not the services behind it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

import pytest

from services.ingest.batcher import Batcher
from xobito.ingest.v1 import events_pb2

REFUSED = "refused"
# Stands for what a request binds: its trace, its log context.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


def batch_of(*wamids: str) -> events_pb2.EventBatch:
    return events_pb2.EventBatch(
        statuses=[events_pb2.StatusEvent(wamid=wamid) for wamid in wamids]
    )


def wamids_of(batch: events_pb2.EventBatch) -> list[str]:
    return [status.wamid for status in batch.statuses]


class HandOff:
    """Records each batch; answers once released, refusing wamid.bad."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.request_ids: list[str | None] = []
        self.called = asyncio.Event()
        self.released = asyncio.Event()
        self.failure: Exception | None = None

    async def __call__(self, batch: events_pb2.EventBatch) -> str:
        self.calls.append(wamids_of(batch))
        self.request_ids.append(request_id.get(None))
        self.called.set()
        await self.released.wait()
        if self.failure is not None:
            raise self.failure
        return REFUSED if "wamid.bad" in wamids_of(batch) else "ok"


def batcher(hand_off: HandOff, *, max_events: int = 100) -> Batcher[str]:
    # One slot: what arrives while a hand-off is in flight waits for it.
    return Batcher(
        hand_off,
        lambda answer: answer == REFUSED,
        max_events=max_events,
        wait_s=0,
        slots=1,
    )


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


async def settle() -> None:
    """Let every task that can run do so."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_webhooks_queued_behind_a_hand_off_share_the_next_one() -> None:
    async def test() -> None:
        hand_off = HandOff()
        shared = batcher(hand_off)
        first = asyncio.create_task(shared.submit(batch_of("wamid.1")))
        await hand_off.called.wait()
        queued = [
            asyncio.create_task(shared.submit(batch_of(f"wamid.{n}", f"wamid.{n}b")))
            for n in (2, 3, 4)
        ]
        await settle()

        hand_off.released.set()
        answers = await asyncio.gather(first, *queued)

        assert hand_off.calls == [
            ["wamid.1"],
            ["wamid.2", "wamid.2b", "wamid.3", "wamid.3b", "wamid.4", "wamid.4b"],
        ]
        assert answers == ["ok"] * 4
        await shared.close()

    run(test)


def test_a_hand_off_carries_no_more_than_max_events() -> None:
    async def test() -> None:
        hand_off = HandOff()
        shared = batcher(hand_off, max_events=3)
        first = asyncio.create_task(shared.submit(batch_of("wamid.1")))
        await hand_off.called.wait()
        queued = [
            asyncio.create_task(shared.submit(batch_of(*wamids)))
            for wamids in (["wamid.2", "wamid.3"], ["wamid.4"], ["wamid.5"])
        ]
        big = asyncio.create_task(shared.submit(batch_of("a", "b", "c", "d")))
        await settle()

        hand_off.released.set()
        await asyncio.gather(first, *queued, big)

        assert hand_off.calls == [
            ["wamid.1"],
            ["wamid.2", "wamid.3", "wamid.4"],
            ["wamid.5"],
            ["a", "b", "c", "d"],
        ]
        await shared.close()

    run(test)


def test_a_refused_shared_hand_off_is_retried_webhook_by_webhook() -> None:
    async def test() -> None:
        hand_off = HandOff()
        shared = batcher(hand_off)
        first = asyncio.create_task(shared.submit(batch_of("wamid.1")))
        await hand_off.called.wait()
        queued = [
            asyncio.create_task(shared.submit(batch_of(wamid)))
            for wamid in ("wamid.2", "wamid.bad", "wamid.3")
        ]
        await settle()

        hand_off.released.set()
        answers = await asyncio.gather(first, *queued)

        # Only the webhook at fault gets the refusal.
        assert answers == ["ok", "ok", REFUSED, "ok"]
        assert hand_off.calls[1:] == [
            ["wamid.2", "wamid.bad", "wamid.3"],
            ["wamid.2"],
            ["wamid.bad"],
            ["wamid.3"],
        ]
        await shared.close()

    run(test)


def test_a_hand_off_that_fails_fails_every_webhook_it_carries() -> None:
    async def test() -> None:
        hand_off = HandOff()
        hand_off.failure = ConnectionError("metrics went away")
        shared = batcher(hand_off)
        first = asyncio.create_task(shared.submit(batch_of("wamid.1")))
        await hand_off.called.wait()
        second = asyncio.create_task(shared.submit(batch_of("wamid.2")))
        await settle()

        hand_off.released.set()
        answers = await asyncio.gather(first, second, return_exceptions=True)

        assert [type(answer) for answer in answers] == [ConnectionError] * 2
        await shared.close()

    run(test)


def test_a_webhook_that_stops_waiting_leaves_the_others_answered() -> None:
    async def test() -> None:
        hand_off = HandOff()
        shared = batcher(hand_off)
        first = asyncio.create_task(shared.submit(batch_of("wamid.1")))
        await hand_off.called.wait()
        gone = asyncio.create_task(shared.submit(batch_of("wamid.2")))
        kept = asyncio.create_task(shared.submit(batch_of("wamid.3")))
        await settle()

        gone.cancel()
        hand_off.released.set()

        assert await asyncio.gather(first, kept) == ["ok", "ok"]
        with pytest.raises(asyncio.CancelledError):
            await gone
        await shared.close()

    run(test)


def test_an_empty_batch_needs_no_queue() -> None:
    async def test() -> None:
        hand_off = HandOff()
        hand_off.released.set()
        shared = batcher(hand_off)

        answer = await shared.submit(events_pb2.EventBatch())

        assert answer == "ok"
        assert hand_off.calls == [[]]
        await shared.close()

    run(test)


def test_a_hand_off_runs_in_the_context_of_its_first_webhook() -> None:
    async def submit(shared: Batcher[str], wamid: str) -> str:
        request_id.set(f"request of {wamid}")
        return await shared.submit(batch_of(wamid))

    async def test() -> None:
        hand_off = HandOff()
        shared = batcher(hand_off)
        first = asyncio.create_task(submit(shared, "wamid.1"))
        await hand_off.called.wait()
        queued = [
            asyncio.create_task(submit(shared, wamid))
            for wamid in ("wamid.2", "wamid.bad")
        ]
        await settle()

        hand_off.released.set()
        await asyncio.gather(first, *queued)

        # The refused shared batch is sent again in each webhook's own.
        assert hand_off.request_ids == [
            "request of wamid.1",
            "request of wamid.2",
            "request of wamid.2",
            "request of wamid.bad",
        ]
        await shared.close()

    run(test)
