"""Counting the exchanges psycopg waits on, in tests of the write paths."""

from __future__ import annotations

from asyncio.selector_events import BaseSelectorEventLoop
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """A one-element list: how many times psycopg waited for the server.

    psycopg registers its socket with the event loop each time it must
    wait for an answer, unless the answer is there already; asyncio
    streams, as redis uses, do not call add_reader, and a pool opening a
    connection waits in another function.
    """
    count = [0]
    add_reader = BaseSelectorEventLoop.add_reader

    def counted(self: BaseSelectorEventLoop, fd: Any, callback: Any, *args: Any) -> Any:
        if callback.__qualname__.startswith("wait_async."):
            count[0] += 1
        return add_reader(self, fd, callback, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseSelectorEventLoop, "add_reader", counted)
        yield count
