from __future__ import annotations

import pytest

from services.metrics import cursors
from services.metrics.search import Search, like_pattern, name_key
from xobito.errors import InvalidArgumentError


def test_names_are_searched_without_case_or_accents() -> None:
    assert name_key("  José  ÑÚÑEZ ") == "jose nunez"


def test_a_search_of_digits_looks_in_phones() -> None:
    assert Search.parse("+1 650-555") == Search(phone_digits="1650555")


def test_a_search_of_letters_looks_in_names() -> None:
    assert Search.parse("Zoë") == Search(name_part="zoe")


def test_like_wildcards_in_a_search_are_literal() -> None:
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_a_page_token_keeps_its_sort_key() -> None:
    token = cursors.encode("SENT_AT", None, 42)

    assert cursors.decode(token, 3) == ["SENT_AT", None, 42]


def test_a_token_that_is_not_ours_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        cursors.decode("not-a-token", 3)


@pytest.mark.parametrize("value", [True, 2**63, 1.5, "7", None])
def test_a_row_id_in_a_token_is_an_integer_postgresql_can_take(value: object) -> None:
    with pytest.raises(InvalidArgumentError):
        cursors.decode_int(value)


def test_a_time_in_a_token_carries_its_offset() -> None:
    with pytest.raises(InvalidArgumentError):
        cursors.decode_time("2026-03-02T10:00:00")


@pytest.mark.parametrize(
    ("name", "typed"),
    [
        ("Søren Ødegård", "soren odegard"),
        ("Łukasz Đorđević", "lukasz dordevic"),
        ("Ægir Þórsson", "aegir thorsson"),
        ("Œdipe Straße", "oedipe strasse"),
        ("Asl\u0131 Ħamrun", "asli hamrun"),
    ],
)
def test_letters_that_carry_no_accent_are_searched_as_people_type_them(
    name: str, typed: str
) -> None:
    assert name_key(name) == typed
