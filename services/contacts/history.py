"""A contact's history: what they wrote, and how their flags changed.

Newest first, paged by keyset: a page token names the last item shown,
so that items arriving meanwhile neither repeat nor skip a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from services.contacts.rules import FlagChange, Signal
from xobito.errors import InvalidArgumentError

INBOUND_MESSAGE = "inbound_message"
FLAG_CHANGE = "flag_change"

# At the same instant a flag change sorts before (is newer than) the
# message that caused it.
KIND_RANK = {INBOUND_MESSAGE: 0, FLAG_CHANGE: 1}

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class InboundMessage:
    """Something a contact wrote to the business."""

    workspace_id: str
    phone: str
    wamid: str
    name: str
    at: datetime
    type: str
    text: str
    button_payload: str
    context_wamid: str
    signal: Signal


@dataclass(frozen=True)
class HistoryItem:
    kind: str
    at: datetime
    id: int
    wamid: str = ""
    type: str = ""
    text: str = ""
    context_wamid: str = ""
    flag: str = ""
    value: bool = False
    reason: str = ""

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, KIND_RANK[self.kind], self.id)


@dataclass(frozen=True)
class AuditEntry:
    """A stored line of a contact's audit trail."""

    id: int
    change: FlagChange

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.change.at, KIND_RANK[FLAG_CHANGE], self.id)


@dataclass(frozen=True)
class Cursor:
    """The position of an item in the newest-first order."""

    at: datetime
    rank: int
    id: int


def page_size(requested: int) -> int:
    """The page size to use: a default for 0, capped at MAX_PAGE_SIZE."""
    if requested < 0:
        raise InvalidArgumentError("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(cursor: Cursor) -> str:
    raw = json.dumps([cursor.at.isoformat(), cursor.rank, cursor.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> Cursor | None:
    """The cursor a page token names; None for the first page."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        at, rank, item_id = json.loads(base64.urlsafe_b64decode(padded))
        cursor = Cursor(datetime.fromisoformat(at), int(rank), int(item_id))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidArgumentError("page_token is not valid") from exc
    if cursor.at.tzinfo is None:
        raise InvalidArgumentError("page_token is not valid")
    return cursor
