"""What the webhook fuzz tests share: bodies, damage, and JSON spellings.

Meta escapes non-ASCII and "/" and writes numbers as it pleases
(`1.50`); Python's json would write the same document otherwise. A
signature covers the exact bytes, so ingest must take each spelling as
sent, and read each alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[T]], T]

# Characters of every kind a message may hold, but lone surrogates
# (text that is no Unicode; the parser rejects it, see test_parser).
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
# Meta's digits and the way it stamps time.
digits = st.from_regex(r"\A[1-9][0-9]{10,14}\Z")
epochs = st.integers(1_500_000_000, 1_900_000_000).map(str)
# Numbers Python's json would spell otherwise: 1.50 becomes 1.5.
decimals = st.decimals(
    min_value=-180, max_value=180, places=2, allow_nan=False, allow_infinity=False
)


def message_webhook(
    text: str, sender: str, at: str, latitude: Decimal, phone_number_id: str
) -> dict[str, Any]:
    """A webhook whose every text is text: a message, its sender's name.

    The message's wamid stands for its sender and text: no two different
    messages share one, however many examples run.
    """
    digest = sha256(f"{sender}:{text}".encode()).hexdigest()
    message = {
        "from": sender,
        "id": f"wamid.{digest}",
        "timestamp": at,
        "type": "text",
        "text": {"body": text},
        "location": {"latitude": latitude, "name": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "16505559999",
            "phone_number_id": phone_number_id,
        },
        "contacts": [{"profile": {"name": text}, "wa_id": sender}],
        "messages": [message],
        "statuses": [{"id": f"wamid.{text}", "status": "read", "timestamp": at}],
    }
    change = {"value": value, "field": "messages"}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [change]}],
    }


def mutate(body: bytes, draw: Draw[Any]) -> bytes:
    """body cut short, or with one byte dropped, changed or added."""
    at = draw(st.integers(0, len(body)))
    how = draw(st.sampled_from(["cut", "drop", "change", "add"]))
    byte = bytes([draw(st.integers(0, 255))])
    if how == "cut":
        return body[:at]
    if how == "drop":
        return body[:at] + body[at + 1 :]
    if how == "change":
        return body[:at] + byte + body[at + 1 :]
    return body[:at] + byte + body[at:]


# -- spellings ------------------------------------------------------------

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


@dataclass(frozen=True)
class Spelling:
    ascii_only: bool  # every non-ASCII character as \uXXXX
    slash: bool  # "/" as \/
    upper_hex: bool  # \u00E4 rather than \u00e4
    spaced: bool  # ", " and ": " between items


spellings = st.builds(
    Spelling, st.booleans(), st.booleans(), st.booleans(), st.booleans()
)


def spell(value: object, how: Spelling) -> bytes:
    """value as JSON text, spelt as `how` says."""
    return _spell(value, how).encode()


def _spell(value: object, how: Spelling) -> str:
    comma, colon = (", ", ": ") if how.spaced else (",", ":")
    if isinstance(value, dict):
        items = (f"{_string(k, how)}{colon}{_spell(v, how)}" for k, v in value.items())
        return "{" + comma.join(items) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_spell(item, how) for item in value) + "]"
    if isinstance(value, str):
        return _string(value, how)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | Decimal):
        return str(value)
    raise TypeError(f"cannot spell {type(value).__name__}")


def _string(text: str, how: Spelling) -> str:
    return '"' + "".join(_char(char, how) for char in text) + '"'


def _char(char: str, how: Spelling) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if char == "/" and how.slash:
        return "\\/"
    point = ord(char)
    if point < 0x20 or (point > 0x7E and how.ascii_only):
        return "".join(_escape(unit, how) for unit in _utf16_units(point))
    return char


def _utf16_units(point: int) -> list[int]:
    if point <= 0xFFFF:
        return [point]
    point -= 0x10000
    return [0xD800 + (point >> 10), 0xDC00 + (point & 0x3FF)]


def _escape(unit: int, how: Spelling) -> str:
    digits = f"{unit:04X}" if how.upper_hex else f"{unit:04x}"
    return f"\\u{digits}"
