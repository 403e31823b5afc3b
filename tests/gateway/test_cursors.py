"""Paging over a service's page tokens: every row once, from any edge."""

from __future__ import annotations

import asyncio

import pytest

from gateway import cursors
from gateway.errors import BadRequestError

ROWS = list(range(23))


def calls_to(
    rows: list[int], limit: int = 500
) -> tuple[cursors.Fetch[int], list[tuple[str, int]]]:
    """A service with offset tokens, and the calls it got."""
    calls: list[tuple[str, int]] = []

    async def fetch(page_token: str, page_size: int) -> cursors.Page[int]:
        calls.append((page_token, page_size))
        start = int(page_token or 0)
        end = start + min(page_size, limit)
        token = str(end) if end < len(rows) else ""
        return cursors.Page(rows[start:end], token, len(rows))

    return fetch, calls


def page(
    fetch: cursors.Fetch[int], first: int | None, after: str | None = None
) -> cursors.Slice[int]:
    return asyncio.run(cursors.paginate(fetch, first, after))


def test_following_end_cursors_shows_every_row_once() -> None:
    fetch, _ = calls_to(ROWS)
    seen: list[int] = []
    after = None

    while True:
        got = page(fetch, 5, after)
        seen += got.rows
        if not got.has_next_page:
            break
        after = got.cursors[-1]

    assert seen == ROWS


def test_resuming_after_any_edge_starts_with_the_next_row() -> None:
    fetch, _ = calls_to(ROWS)
    first = page(fetch, 10)

    for index, cursor in enumerate(first.cursors):
        assert page(fetch, 3, cursor).rows[0] == ROWS[index + 1]


def test_the_default_page_has_fifty_rows() -> None:
    fetch, calls = calls_to(ROWS)

    page(fetch, None)

    assert calls == [("", cursors.DEFAULT_FIRST)]


def test_a_skip_beyond_the_services_limit_is_walked_first() -> None:
    rows = list(range(1000))
    fetch, calls = calls_to(rows, limit=500)
    cursor = cursors.encode("", 400)

    got = page(fetch, 200, cursor)

    assert got.rows[0] == 400
    assert len(got.rows) == 200
    assert calls == [("", 400), ("400", 200)]


@pytest.mark.parametrize("first", [0, -1, cursors.MAX_FIRST + 1])
def test_first_out_of_range_is_refused(first: int) -> None:
    fetch, _ = calls_to(ROWS)

    with pytest.raises(BadRequestError):
        page(fetch, first)


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGEgY3Vyc29y", cursors.encode("", 501)])
def test_a_cursor_the_gateway_did_not_make_is_refused(cursor: str) -> None:
    fetch, _ = calls_to(ROWS)

    with pytest.raises(BadRequestError):
        page(fetch, 5, cursor)
