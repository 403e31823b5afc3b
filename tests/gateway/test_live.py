"""The hub: one paced upstream stream per campaign, shared by subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from gateway.live import Hub

Key = tuple[str, str]
KEY = ("ws", "cmp")


@dataclass
class Upstream:
    """A stand-in for WatchCounters: a value now, then what is pushed."""

    opened: int = 0
    open: int = 0
    now: int = 0
    refusal: Exception | None = None
    changes: dict[Key, asyncio.Queue[int | Exception]] = field(default_factory=dict)

    async def watch(self, key: Key) -> AsyncGenerator[int, None]:
        self.opened += 1
        if self.refusal is not None:
            raise self.refusal
        self.open += 1
        changes = self.changes.setdefault(key, asyncio.Queue())
        try:
            yield self.now
            while True:
                change = await changes.get()
                if isinstance(change, Exception):
                    raise change
                yield change
        finally:
            self.open -= 1

    def push(self, value: int | Exception, key: Key = KEY) -> None:
        self.changes[key].put_nowait(value)


async def until(check: Callable[[], bool], timeout: float = 2) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def collect(stream: AsyncGenerator[int, None], into: list[int]) -> None:
    async with aclosing(stream):
        async for value in stream:
            into.append(value)


class Interrupted(Exception):
    """The resumable error of these tests, as UNAVAILABLE is the gateway's."""


def run(
    test: Callable[[Hub[Key, int], Upstream], Awaitable[None]],
    resume_for_s: float = 5,
) -> None:
    async def main() -> None:
        upstream = Upstream()
        hub: Hub[Key, int] = Hub(
            upstream.watch,
            interval_s=0.1,
            resume_on=(Interrupted,),
            resume_for_s=resume_for_s,
        )
        try:
            await test(hub, upstream)
        finally:
            await hub.close()

    asyncio.run(main())


def test_twenty_subscribers_share_one_upstream_stream() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        seen: list[list[int]] = [[] for _ in range(20)]
        tasks = [
            asyncio.create_task(collect(hub.subscribe(KEY), into)) for into in seen
        ]
        await until(lambda: all(seen))

        assert upstream.opened == 1
        assert hub.active_campaigns() == 1
        for task in tasks:
            task.cancel()

    run(test)


def test_a_burst_arrives_paced_and_ends_on_the_final_value() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        seen: list[int] = []
        task = asyncio.create_task(collect(hub.subscribe(KEY), seen))
        await until(lambda: seen == [0])

        started = asyncio.get_running_loop().time()
        for value in range(1, 201):
            upstream.push(value)
            await asyncio.sleep(0.004)
        took = asyncio.get_running_loop().time() - started
        await until(lambda: seen[-1] == 200)
        await asyncio.sleep(0.3)
        task.cancel()

        # The first, one per 100 ms of the burst (~0.9 s), and the last.
        assert len(seen) <= 4 + took * 10
        assert seen == sorted(seen)
        assert seen[-1] == 200

    run(test)


def test_a_slow_subscriber_skips_to_the_newest_value() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        stream = hub.subscribe(KEY)
        assert await anext(stream) == 0

        for value in range(1, 50):
            upstream.push(value)
        await asyncio.sleep(0.3)  # the subscriber reads nothing meanwhile

        assert await anext(stream) == 49
        await stream.aclose()

    run(test)


def test_the_last_subscriber_leaving_closes_the_upstream_stream() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        streams = [hub.subscribe(KEY) for _ in range(3)]
        for stream in streams:
            await anext(stream)

        for stream in streams:
            await stream.aclose()
        await until(lambda: hub.running_tasks() == 0)

        assert hub.active_campaigns() == 0
        assert upstream.open == 0

    run(test)


def test_a_subscriber_leaving_keeps_the_stream_for_the_others() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        leaving, staying = hub.subscribe(KEY), hub.subscribe(KEY)
        await anext(leaving)
        await anext(staying)

        await leaving.aclose()
        upstream.push(7)

        assert await anext(staying) == 7
        assert hub.active_campaigns() == 1
        await staying.aclose()

    run(test)


def test_another_workspace_gets_its_own_stream() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        mine, theirs = hub.subscribe(KEY), hub.subscribe(("other", "cmp"))
        await anext(mine)
        await anext(theirs)

        assert upstream.opened == 2
        assert hub.active_campaigns() == 2
        await mine.aclose()
        await theirs.aclose()

    run(test)


def test_an_upstream_error_reaches_everyone_after_the_last_value() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        first, second = hub.subscribe(KEY), hub.subscribe(KEY)
        await anext(first)
        await anext(second)

        upstream.push(5)
        upstream.push(LookupError("gone"))
        await until(lambda: hub.active_campaigns() == 0)

        for stream in (first, second):
            assert await anext(stream) == 5
            try:
                await anext(stream)
            except LookupError as error:
                assert str(error) == "gone"
            else:
                raise AssertionError("the error was not raised")

    run(test)


def test_closing_the_hub_ends_every_subscription() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        seen: list[int] = []
        task = asyncio.create_task(collect(hub.subscribe(KEY), seen))
        await until(lambda: seen == [0])

        await hub.close()
        await asyncio.wait_for(task, 1)

        assert hub.running_tasks() == 0
        assert upstream.open == 0

    run(test)


def test_an_interrupted_stream_resumes_and_subscribers_get_the_state_now() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        seen: list[int] = []
        task = asyncio.create_task(collect(hub.subscribe(KEY), seen))
        await until(lambda: seen == [0])

        upstream.now = 7
        upstream.push(Interrupted())
        await until(lambda: seen[-1:] == [7])
        upstream.push(8)
        await until(lambda: seen[-1:] == [8])

        assert upstream.opened == 2
        assert not task.done()
        task.cancel()

    run(test)


def test_a_stream_refused_at_the_start_is_not_resumed() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        upstream.refusal = Interrupted("metrics is unavailable")
        stream = hub.subscribe(KEY)
        try:
            await anext(stream)
        except Interrupted:
            pass
        else:
            raise AssertionError("the refusal was not raised")

        assert upstream.opened == 1

    run(test)


def test_resuming_gives_up_when_nothing_arrives_for_resume_for_s() -> None:
    async def test(hub: Hub[Key, int], upstream: Upstream) -> None:
        stream = hub.subscribe(KEY)
        assert await anext(stream) == 0

        upstream.refusal = Interrupted("still away")
        upstream.push(Interrupted())
        try:
            async with asyncio.timeout(10):
                await anext(stream)
        except Interrupted as error:
            assert str(error) == "still away"
        else:
            raise AssertionError("the interruption was not raised")

        assert upstream.opened >= 2
        assert hub.active_campaigns() == 0

    run(test, resume_for_s=0.5)
