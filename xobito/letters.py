"""Latin letters of their own, not a base letter with a mark.

NFKD leaves them whole, so stripping marks does not reach them: "đ" stays
"đ" where "ủ" becomes "u". UNMARKED spells them as people type them
without the letter at hand.
"""

from __future__ import annotations

UNMARKED = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ł": "l",
        "ð": "d",
        "\u0131": "i",  # dotless i
        "ħ": "h",
        "ŧ": "t",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
    }
)
