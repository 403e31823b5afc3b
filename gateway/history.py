"""A contact's history merged from two services, newest first.

Contacts lists what the contact wrote and how their flags changed;
metrics lists the campaign messages sent to them. Each pages its list by
keyset and gives every item the token that resumes right after it. An
edge's cursor holds the two positions: the token after the last item
shown from each list. A page asks both services for `first` items from
their positions, merges them by time (contacts first at the same
instant), and shows the first `first`; the rest come again next page.
As each position is a service's own token, a cursor stays exact however
long one list waits behind the other, and nothing repeats or skips.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway import cursors
from gateway.errors import BadRequestError
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.metrics.v1 import metrics_pb2 as mpb

Item = cpb.HistoryItem | mpb.ContactSend
Fetch = Callable[[str, int], Awaitable["cursors.Page[Item]"]]

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Position:
    """Where each list resumes: a page token of each service."""

    contacts: str = ""
    metrics: str = ""


def encode(position: Position) -> str:
    raw = json.dumps([position.contacts, position.metrics]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        contacts, metrics = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, TypeError):
        raise BadRequestError("invalid cursor") from None
    if not isinstance(contacts, str) or not isinstance(metrics, str):
        raise BadRequestError("invalid cursor")
    return Position(contacts, metrics)


def _at(item: Item) -> datetime:
    if isinstance(item, cpb.HistoryItem):
        known, stamp = item.HasField("occurred_at"), item.occurred_at
    else:
        known, stamp = item.HasField("sent_at"), item.sent_at
    return stamp.ToDatetime(tzinfo=UTC) if known else _NEVER


async def merged(
    contacts: Fetch,
    metrics: Fetch,
    first: int | None,
    after: str | None,
) -> cursors.Slice[Item]:
    """The `first` items after the cursor, from both lists."""
    first = cursors.DEFAULT_FIRST if first is None else first
    if not 1 <= first <= cursors.MAX_FIRST:
        raise BadRequestError(f"first must be between 1 and {cursors.MAX_FIRST}")
    position = decode(after) if after else Position()

    ours, sends = await asyncio.gather(
        contacts(position.contacts, first), metrics(position.metrics, first)
    )

    rows: list[Item] = []
    edges: list[str] = []
    lists = [list(ours.rows), list(sends.rows)]
    taken = [0, 0]
    tokens = [position.contacts, position.metrics]
    more = [ours.next_page_token, sends.next_page_token]
    while len(rows) < first:
        left = [taken[n] < len(lists[n]) for n in (0, 1)]
        # A list whose page ran out while it has more cannot be compared.
        if not any(left) or any(not left[n] and more[n] for n in (0, 1)):
            break
        n = _newer(lists, taken, left)
        item = lists[n][taken[n]]
        taken[n] += 1
        tokens[n] = item.page_token
        rows.append(item)
        edges.append(encode(Position(*tokens)))

    has_next = any(taken[n] < len(lists[n]) or more[n] for n in (0, 1))
    return cursors.Slice(rows, edges, has_next, 0)


def _newer(lists: Sequence[list[Item]], taken: list[int], left: list[bool]) -> int:
    """Which list's next item comes first, newest first."""
    if not left[1]:
        return 0
    if not left[0]:
        return 1
    mine, theirs = lists[0][taken[0]], lists[1][taken[1]]
    return 0 if _at(mine) >= _at(theirs) else 1
