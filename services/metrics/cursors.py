"""Page tokens: the last row's sort key, opaque to clients."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from xobito.errors import InvalidArgumentError

_NOT_OURS = "page_token is not valid"


def encode(*key: Any) -> str:
    """A token for the row with this sort key (datetimes allowed)."""
    plain = [
        value.isoformat() if isinstance(value, datetime) else value for value in key
    ]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, size: int) -> list[Any]:
    """The sort key in token; InvalidArgumentError if it is not ours."""
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        raise InvalidArgumentError(_NOT_OURS) from None
    if not isinstance(key, list) or len(key) != size:
        raise InvalidArgumentError(_NOT_OURS)
    return key


def decode_int(value: Any) -> int:
    """An integer stored by encode(): a row id or a rank, within bigint."""
    # bool is an int to Python and would pass for 0 or 1.
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise InvalidArgumentError(_NOT_OURS)
    return value


def decode_time(value: Any) -> datetime | None:
    """A datetime stored by encode(), or None."""
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(_NOT_OURS) from None
    if found.tzinfo is None:
        raise InvalidArgumentError(_NOT_OURS)
    return found
