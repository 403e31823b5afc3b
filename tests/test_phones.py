from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.examples import examples
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


@pytest.mark.parametrize(
    "raw",
    [
        "0123456789",
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic
        "\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078",  # superscripts
        "1" * 16,
    ],
)
def test_bare_digits_that_cannot_be_a_number_are_refused(raw: str) -> None:
    assert phones.normalize(raw) is None


_E164 = re.compile(r"[1-9][0-9]{6,14}")


@settings(max_examples=examples(30))
@given(
    st.text(alphabet=st.sampled_from("0123456789+ -().[]\t\u00b2\uff11x"))
    | st.from_regex(r"\A[0-9]{0,17}\Z")
)
def test_a_number_is_its_digits_when_they_make_one(raw: str) -> None:
    bare = phones.digits(raw)
    expected = bare if bare.isascii() and _E164.fullmatch(bare) else None
    assert phones.normalize(raw) == expected
