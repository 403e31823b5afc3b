"""Ingest's buffer of the bodies still arriving, by itself."""

from __future__ import annotations

import asyncio

import pytest

from services.ingest.app import _Arriving, _Receiving


async def _arriving_until(
    receiving: _Receiving, body: _Arriving, timeout: float
) -> None:
    """A read of body that waits for more until its deadline."""
    receiving.enter(body)
    try:
        async with asyncio.timeout(timeout) as body.deadline:
            await asyncio.Event().wait()
    finally:
        receiving.leave(body)


async def _started(
    receiving: _Receiving, size: int, timeout: float = 60
) -> tuple[_Arriving, asyncio.Task[None]]:
    """A body of size bytes held, its read waiting for more."""
    body = _Arriving()
    task = asyncio.create_task(_arriving_until(receiving, body, timeout))
    await asyncio.sleep(0)
    assert receiving.admit(body, size)
    return body, task


def _entered(receiving: _Receiving) -> _Arriving:
    """A body just arriving, nothing of it held yet."""
    body = _Arriving()
    receiving.enter(body)
    return body


def test_the_largest_body_gives_way_and_its_read_ends() -> None:
    async def test() -> None:
        receiving = _Receiving(limit=100)
        large, read = await _started(receiving, 90)
        small = _entered(receiving)

        assert receiving.admit(small, 20)

        assert large.evicted and not small.evicted
        assert receiving.held == 20
        with pytest.raises(TimeoutError):
            await read

    asyncio.run(test())


def test_a_body_no_smaller_than_every_other_gets_no_room() -> None:
    async def test() -> None:
        receiving = _Receiving(limit=100)
        held, read = await _started(receiving, 40)
        larger = _entered(receiving)

        assert receiving.admit(larger, 50)
        assert not receiving.admit(larger, 20)

        assert not held.evicted
        assert receiving.held == 90
        read.cancel()

    asyncio.run(test())


def test_a_body_whose_deadline_is_passing_gives_way_without_a_fault() -> None:
    async def test() -> None:
        receiving = _Receiving(limit=100)
        large, read = await _started(receiving, 90, timeout=0)
        # Its deadline has fired; the read it cancels has not run yet.
        while not (large.deadline is not None and large.deadline.expired()):
            await asyncio.sleep(0)
        assert not read.done()

        assert receiving.admit(_entered(receiving), 20)

        assert receiving.held == 20
        with pytest.raises(TimeoutError):
            await read
        assert receiving.held == 20

    asyncio.run(test())
