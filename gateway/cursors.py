"""Cursors for every edge, on top of the services' keyset page tokens.

A service hands out one token per page: where the next page starts. A
client may resume after any edge, so an edge's cursor is the token of the
page it came from plus how many rows of that page to skip. The last edge
of a page that has a next one carries that page's next token itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.errors import BadRequestError

T = TypeVar("T")

DEFAULT_FIRST = 50
MAX_FIRST = 250
# The most rows one call to a service returns (metrics caps page_size at
# 500); a longer skip is walked in a first call.
PAGE_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """One answer of a service's List call."""

    rows: Sequence[T]
    next_page_token: str
    total_count: int = 0
    # The service counted up to a limit, and more rows match.
    total_count_capped: bool = False


@dataclass(frozen=True)
class Slice(Generic[T]):
    """What a connection shows: rows, their cursors, and what follows."""

    rows: Sequence[T]
    cursors: list[str]
    has_next_page: bool
    total_count: int
    total_count_capped: bool = False


Fetch = Callable[[str, int], Awaitable[Page[T]]]


def encode(page_token: str, skip: int) -> str:
    raw = f"{skip}:{page_token}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
        skip, _, page_token = raw.partition(":")
        count = int(skip)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestError("invalid cursor") from None
    if not 0 <= count <= PAGE_LIMIT:
        raise BadRequestError("invalid cursor")
    return page_token, count


async def paginate(fetch: Fetch[T], first: int | None, after: str | None) -> Slice[T]:
    """The `first` rows after the cursor `after`, fetched by page token."""
    first = DEFAULT_FIRST if first is None else first
    if not 1 <= first <= MAX_FIRST:
        raise BadRequestError(f"first must be between 1 and {MAX_FIRST}")
    token, skip = decode(after) if after else ("", 0)

    if skip + first > PAGE_LIMIT:
        # Walk past the skipped rows, so the page starts at a fresh token.
        while skip > 0:
            page = await fetch(token, skip)
            if not page.next_page_token or not page.rows:
                return Slice([], [], False, page.total_count, page.total_count_capped)
            token, skip = page.next_page_token, skip - len(page.rows)

    page = await fetch(token, skip + first)
    rows = page.rows[skip : skip + first]
    cursors = [encode(token, skip + index + 1) for index in range(len(rows))]
    if cursors and page.next_page_token:
        cursors[-1] = encode(page.next_page_token, 0)
    return Slice(
        rows,
        cursors,
        bool(page.next_page_token),
        page.total_count,
        page.total_count_capped,
    )
