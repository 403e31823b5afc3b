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
    receiving: _Receiving, size: int, timeout: float
) -> tuple[_Arriving, asyncio.Task[None]]:
    body = _Arriving()
    task = asyncio.create_task(_arriving_until(receiving, body, timeout))
    await asyncio.sleep(0)
    assert receiving.admit(body, size)
    return body, task


async def _test_the_largest_body_gives_way_and_its_read_ends() -> None:
    receiving = _Receiving(limit=100)
    large, task = await _started(receiving, 90, timeout=60)
    small = _Arriving()
    receiving.enter(small)

    assert receiving.admit(small, 20)

    assert large.evicted and not small.evicted
    assert receiving.held == 20
    with pytest.raises(TimeoutError):
        await task


async def _test_a_body_no_smaller_than_every_other_gets_no_room() -> None:
    receiving = _Receiving(limit=100)
    held, task = await _started(receiving, 40, timeout=60)
    larger = _Arriving()
    receiving.enter(larger)

    assert receiving.admit(larger, 50)
    assert not receiving.admit(larger, 20)

    assert not held.evicted
    assert receiving.held == 90
    task.cancel()


async def _test_a_body_whose_deadline_is_passing_gives_way_without_a_fault() -> None:
    receiving = _Receiving(limit=100)
    large, task = await _started(receiving, 90, timeout=0)
    # Its deadline has fired; the read it cancels has not run yet.
    while not (large.deadline is not None and large.deadline.expired()):
        await asyncio.sleep(0)
    assert not task.done()
    small = _Arriving()
    receiving.enter(small)

    assert receiving.admit(small, 20)

    assert receiving.held == 20
    with pytest.raises(TimeoutError):
        await task
    assert receiving.held == 20


def test_the_largest_body_gives_way_and_its_read_ends() -> None:
    asyncio.run(_test_the_largest_body_gives_way_and_its_read_ends())


def test_a_body_no_smaller_than_every_other_gets_no_room() -> None:
    asyncio.run(_test_a_body_no_smaller_than_every_other_gets_no_room())


def test_a_body_whose_deadline_is_passing_gives_way_without_a_fault() -> None:
    asyncio.run(_test_a_body_whose_deadline_is_passing_gives_way_without_a_fault())
