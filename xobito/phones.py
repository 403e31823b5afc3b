"""Phone numbers in the one form every service stores them in.

Meta writes numbers as E.164 digits without the '+' ("16505551234");
people type them with '+', spaces, dashes, dots or brackets. A number
has 7 to 15 digits and its country code never starts with 0.
"""

from __future__ import annotations

import re

_DECORATION = re.compile(r"[\s+\-()\[\].]")

INVALID_NUMBER = "invalid_number"


def digits(raw: str) -> str:
    """raw without what people type around the digits."""
    return _DECORATION.sub("", raw)


def normalize(raw: str) -> str | None:
    """E.164 digits without '+', or None when raw cannot be a number."""
    # Most numbers arrive as bare digits already: a sender's batch of
    # 10,000 spends half its time here otherwise.
    bare = raw if raw.isdigit() else digits(raw)
    if bare.isascii() and bare.isdigit() and 7 <= len(bare) <= 15 and bare[0] != "0":
        return bare
    return None
