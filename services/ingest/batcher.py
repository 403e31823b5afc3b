"""One hand-off for the events of webhooks that arrive together.

A RecordEvents call costs metrics and contacts a transaction and a dozen
statements whatever its size, so the webhooks in flight at one moment
share one call. Each request queues its routed batch and waits for the
hand-off that carries it; its answer is that hand-off's, so a webhook is
still answered 200 only once both services have committed its events.

A hand-off leaves as soon as one of a few slots is free, after waiting
up to `wait_s` for company. While every slot is busy, the queue grows,
and the next hand-off takes up to `max_events` events of it: the slower
the services, the larger the batches they are sent.

A hand-off runs in the context of the first webhook it carries, so its
calls belong to that webhook's trace. Known shortcoming: the traces of
the other webhooks of a shared hand-off end at ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from xobito.ingest.v1 import events_pb2

# Hand-offs in flight at once: while one waits for its commits, the next
# is on its way.
SLOTS = 2

# What one hand-off answers.
R = TypeVar("R")


@dataclass(slots=True)
class _Waiting(Generic[R]):
    batch: events_pb2.EventBatch
    events: int
    answer: asyncio.Future[R]
    context: contextvars.Context


class Batcher(Generic[R]):
    """Gathers the batches of concurrent webhooks into shared hand-offs.

    refused tells from a hand-off's answer whether a service refused the
    batch for good.
    """

    def __init__(
        self,
        hand_off: Callable[[events_pb2.EventBatch], Coroutine[Any, Any, R]],
        refused: Callable[[R], bool],
        *,
        max_events: int,
        wait_s: float,
        slots: int = SLOTS,
    ) -> None:
        self._hand_off = hand_off
        self._refused = refused
        self._max_events = max_events
        self._wait_s = wait_s
        self._slots = asyncio.Semaphore(slots)
        self._queue: deque[_Waiting[R]] = deque()
        self._queued_events = 0
        self._arrived = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def submit(self, batch: events_pb2.EventBatch) -> R:
        """Hand batch off with the others queued; the hand-off's results.

        When a service refuses a shared batch for good, each webhook's
        batch is handed off again alone, so that only the one at fault
        gets the refusal.
        """
        events = event_count(batch)
        if not events:
            return await self._hand_off(batch)
        if self._runner is None:
            # Of no request: it outlives the one that starts it.
            self._runner = asyncio.create_task(
                self._run(), context=contextvars.Context()
            )

        answer: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(batch, events, answer, contextvars.copy_context())
        self._queue.append(waiting)
        self._queued_events += events
        self._arrived.set()
        return await waiting.answer

    async def close(self) -> None:
        """Stop taking batches; wait for the hand-offs in flight."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if self._wait_s > 0 and self._queued_events < self._max_events:
                await asyncio.sleep(self._wait_s)
            await self._slots.acquire()
            taken = self._take()
            if not self._queue:
                self._arrived.clear()

            task = asyncio.create_task(self._forward(taken), context=taken[0].context)
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    def _take(self) -> list[_Waiting[R]]:
        """The oldest queued batches, up to max_events events (at least one)."""
        taken = [self._queue.popleft()]
        events = taken[0].events
        while self._queue and events + self._queue[0].events <= self._max_events:
            waiting = self._queue.popleft()
            taken.append(waiting)
            events += waiting.events
        self._queued_events -= events
        return taken

    async def _forward(self, taken: list[_Waiting[R]]) -> None:
        try:
            results = await self._hand_off(merged(w.batch for w in taken))
            if len(taken) > 1 and self._refused(results):
                answers = await asyncio.gather(
                    *(
                        asyncio.create_task(self._hand_off(w.batch), context=w.context)
                        for w in taken
                    )
                )
            else:
                answers = [results] * len(taken)
        except Exception as exc:  # noqa: BLE001 - each request answers for it
            for waiting in taken:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        for waiting, answer in zip(taken, answers, strict=True):
            # A request whose client went away no longer waits.
            if not waiting.answer.done():
                waiting.answer.set_result(answer)


def event_count(batch: events_pb2.EventBatch) -> int:
    # Every field of a batch is a list of events; ListFields names those
    # that hold any.
    return sum(len(events) for _, events in batch.ListFields())


def merged(batches: Iterable[events_pb2.EventBatch]) -> events_pb2.EventBatch:
    """One batch holding the events of batches, in their order."""
    parts = list(batches)
    if len(parts) == 1:
        return parts[0]
    batch = events_pb2.EventBatch()
    for part in parts:
        batch.MergeFrom(part)
    return batch
