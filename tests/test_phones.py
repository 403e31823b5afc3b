from __future__ import annotations

import pytest

from xobito import phones

FULLWIDTH_DIGITS = "\uff11\uff16\uff15\uff10\uff15\uff15\uff15\uff11"


@pytest.mark.parametrize(
    "raw", ["+1 (650) 555-1234", "16505551234", " 1-650-555-1234 ", "1.650.555.1234"]
)
def test_a_number_becomes_e164_digits_without_plus(raw: str) -> None:
    assert phones.normalize(raw) == "16505551234"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "+",
        "1",
        "123456",
        "1650555123x",
        FULLWIDTH_DIGITS,
        "1" * 16,
        "+0015557770009",
    ],
)
def test_what_cannot_be_a_number_is_refused(raw: str) -> None:
    assert phones.normalize(raw) is None


def test_the_shortest_and_longest_numbers_are_kept() -> None:
    assert phones.normalize("6831234") == "6831234"
    assert phones.normalize("1" * 15) == "1" * 15
