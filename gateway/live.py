"""Live feeds shared by every subscriber of one campaign in this process.

A 100,000-recipient broadcast changes its counters hundreds of times a
second, and a dashboard may be open in many tabs. The hub opens one
upstream stream per key (workspace, campaign), however many subscribers
it has, and hands each subscriber only the newest value: a slow one
skips intermediate states, never the last. Fan-out is paced: after an
update goes out, the next waits until `interval_s` has passed and then
carries the newest value. When the last subscriber leaves, the upstream
stream is closed (which cancels its gRPC call) and the entry removed.

An established stream that breaks with a resumable error (metrics
restarting, its Redis briefly away) is opened again with backoff, and its
first message (the state now) reaches every subscriber: they see a pause,
not an error, unless nothing arrives for `resume_for_s`.

The key carries the workspace, so a subscriber only ever joins a stream
opened with its own workspace's access check.

Each fan-out is a span, `campaignCounters push`. The gauge
`xobito.gateway.subscriptions` counts the subscribers of a hub that
counts them; the counters' hub does not, as its subscribers are the
renderings of gateway.broadcast, which counts the clients' instead.

Known shortcoming: the push span starts a trace of its own, as the
counters carry no trace context from the webhook that changed them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from typing import Generic, TypeVar

import structlog
from opentelemetry import metrics, trace
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential_jitter,
)

from gateway.clients import MetricsClient
from gateway.errors import UnavailableError
from xobito.metrics.v1 import metrics_pb2 as mpb

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)
subscriptions = metrics.get_meter(__name__).create_up_down_counter(
    "xobito.gateway.subscriptions",
    unit="{subscription}",
    description="Active GraphQL subscriptions, by subscription field.",
)

Watch = Callable[[K], AsyncGenerator[V, None]]


class _Ended(Exception):
    """The upstream stream ended without an error."""


class _Slot(Generic[V]):
    """One subscriber's queue: it holds the newest value only."""

    def __init__(self) -> None:
        self._value: V | None = None
        self._full = False
        self._error: BaseException | None = None
        self._ended = False
        self._ready = asyncio.Event()

    def put(self, value: V) -> None:
        self._value, self._full = value, True
        self._ready.set()

    def end(self, error: BaseException | None) -> None:
        self._ended, self._error = True, error
        self._ready.set()

    async def get(self) -> V:
        """The newest value not taken yet.

        Raises the feed's error, or _Ended, once the feed has ended.
        """
        await self._ready.wait()
        if self._full:
            value, self._value, self._full = self._value, None, False
            if not self._ended:
                self._ready.clear()
            return value  # type: ignore[return-value]
        if self._error is None:
            raise _Ended
        # Raised in every subscriber's task: no traceback piles up on it.
        raise self._error.with_traceback(None)


class _Feed(Generic[K, V]):
    """One upstream stream and the slots of its subscribers."""

    def __init__(self, hub: Hub[K, V], key: K) -> None:
        self.hub = hub
        self.key = key
        self.slots: set[_Slot[V]] = set()
        self.newest: V | None = None
        self._has_newest = False
        self._last_sent = float("-inf")
        self._last_arrival = asyncio.get_running_loop().time()
        self._flush: asyncio.TimerHandle | None = None
        self.task = asyncio.create_task(self._run())

    def join(self, slot: _Slot[V]) -> None:
        self.slots.add(slot)
        if self._has_newest:
            slot.put(self.newest)  # type: ignore[arg-type]

    async def _run(self) -> None:
        error: BaseException | None = None
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(self._resumable),
                wait=wait_exponential_jitter(multiplier=0.1, max=2, jitter=0.2),
                stop=self._given_up,
                before_sleep=self._resuming,
                reraise=True,
            ):
                with attempt:
                    async with aclosing(self.hub.watch(self.key)) as stream:
                        async for value in stream:
                            self._arrived(value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every subscriber
            error = exc
        self._finish(error)

    def _resumable(self, error: BaseException) -> bool:
        """Only a stream that once answered is resumed; a refusal is final."""
        return self._has_newest and isinstance(error, self.hub.resume_on)

    def _given_up(self, state: RetryCallState) -> bool:
        silent = asyncio.get_running_loop().time() - self._last_arrival
        return silent >= self.hub.resume_for_s

    def _resuming(self, state: RetryCallState) -> None:
        log.warning(
            "feed interrupted, resuming",
            feed=self.hub.name,
            attempt=state.attempt_number,
            error=type(state.outcome.exception()).__name__ if state.outcome else None,
        )

    def _arrived(self, value: V) -> None:
        self.newest, self._has_newest = value, True
        self._last_arrival = asyncio.get_running_loop().time()
        if self._flush is not None:
            return  # the pending flush will carry it
        loop = asyncio.get_running_loop()
        wait = self._last_sent + self.hub.interval_s - loop.time()
        if wait <= 0:
            self._send()
        else:
            self._flush = loop.call_later(wait, self._send)

    def _send(self) -> None:
        self._flush = None
        self._last_sent = asyncio.get_running_loop().time()
        with tracer.start_as_current_span(
            f"{self.hub.name} push",
            attributes={"xobito.subscribers": len(self.slots)},
        ):
            for slot in self.slots:
                slot.put(self.newest)  # type: ignore[arg-type]

    def _finish(self, error: BaseException | None) -> None:
        """The stream ended: send what is pending, then end every slot."""
        if self._flush is not None:
            self._flush.cancel()
            self._send()
        self.hub._forget(self)
        for slot in self.slots:
            slot.end(error)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self.task.cancel()


class Hub(Generic[K, V]):
    """Shared, paced upstream streams, one per key."""

    def __init__(
        self,
        watch: Watch[K, V],
        interval_s: float = 0.1,
        name: str = "feed",
        resume_on: tuple[type[Exception], ...] = (),
        resume_for_s: float = 30.0,
        counted: bool = True,
    ) -> None:
        self.watch = watch
        self.interval_s = interval_s
        self.name = name
        self.resume_on = resume_on
        self.resume_for_s = resume_for_s
        self.counted = counted
        self._feeds: dict[K, _Feed[K, V]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def active_campaigns(self) -> int:
        """How many upstream streams are open (one per key)."""
        return len(self._feeds)

    def running_tasks(self) -> int:
        """Upstream tasks not finished yet, closing ones included."""
        return len(self._tasks)

    async def subscribe(self, key: K) -> AsyncGenerator[V, None]:
        """The newest value now, then paced changes, until closed."""
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = _Feed(self, key)
            self._tasks.add(feed.task)
            feed.task.add_done_callback(self._tasks.discard)
            log.debug("feed opened", key=key)
        slot: _Slot[V] = _Slot()
        feed.join(slot)
        if self.counted:
            subscriptions.add(1, {"subscription": self.name})
        try:
            while True:
                try:
                    value = await slot.get()
                except _Ended:
                    return
                yield value
        finally:
            if self.counted:
                subscriptions.add(-1, {"subscription": self.name})
            feed.slots.discard(slot)
            if not feed.slots and self._feeds.get(key) is feed:
                self._forget(feed)
                feed.close()
                log.debug("feed closed", key=key)

    def _forget(self, feed: _Feed[K, V]) -> None:
        if self._feeds.get(feed.key) is feed:
            del self._feeds[feed.key]

    async def close(self) -> None:
        """End every subscription and its upstream stream; for shutdown."""
        for feed in list(self._feeds.values()):
            for slot in feed.slots:
                slot.end(None)
            feed.close()
        self._feeds.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)


CampaignKey = tuple[str, str]
"""(workspace, campaign)"""


class Live:
    """The hubs of one gateway process, opened in the app's lifespan."""

    def __init__(self, metrics_client: MetricsClient) -> None:
        self.counters: Hub[CampaignKey, mpb.CampaignCounters] = Hub(
            lambda key: metrics_client.watch_counters(*key),
            name="campaignCounters",
            resume_on=(UnavailableError,),
            # Its subscribers are renderings (gateway.broadcast), which
            # count the subscriptions they serve.
            counted=False,
        )

    async def close(self) -> None:
        await self.counters.close()
