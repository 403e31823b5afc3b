"""Phone numbers and names in the forms we store and search them in."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from xobito import phones
from xobito.letters import UNMARKED

# The migration 0014_metrics_name_keys_unmarked_letters spells the
# unmarked letters of keys stored before as UNMARKED does.


def name_key(name: str) -> str:
    """A name as it is searched: case-folded, accents stripped."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.translate(UNMARKED).split())


@dataclass(frozen=True, slots=True)
class Search:
    """A recipient search: part of the phone's digits, or of the name."""

    phone_digits: str = ""
    name_part: str = ""

    @classmethod
    def parse(cls, text: str) -> Search:
        digits = phones.digits(text)
        if digits.isascii() and digits.isdigit():
            return cls(phone_digits=digits)
        return cls(name_part=name_key(text))

    def __bool__(self) -> bool:
        return bool(self.phone_digits or self.name_part)


def like_pattern(part: str) -> str:
    """A LIKE pattern matching `part` anywhere, its wildcards escaped."""
    escaped = re.sub(r"([\\%_])", r"\\\1", part)
    return f"%{escaped}%"
