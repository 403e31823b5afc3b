"""The marker an erased phone number leaves behind.

Erasing a contact removes its number from every table, but a number that
had opted out must stay refused if a campaign names it again. What stays
is HMAC-SHA256 of the number under ERASURE_KEY: the same number always
gives the same marker, and without the key no marker leads back to its
number (a plain hash would not do: phone numbers are few enough to try
them all).
"""

from __future__ import annotations

import hmac

from xobito.errors import ConflictError

PREFIX = "erased:"


def marker(key: str, phone: str) -> str:
    """The marker of a normalized phone number (E.164 digits)."""
    if not key:
        raise ConflictError("ERASURE_KEY is not set: erasure is turned off")
    # hmac.digest is the one-shot C path: a sender's batch of 10,000
    # numbers costs milliseconds, not tens of them.
    return PREFIX + hmac.digest(key.encode(), phone.encode(), "sha256").hex()


def is_marker(value: str) -> bool:
    return value.startswith(PREFIX)
