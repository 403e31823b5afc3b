from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cases import load_cases
from xobito.failures import (
    CATALOGUE,
    ContactEffect,
    FailureCategory,
    lookup,
)

CATEGORY_CODES = {
    "not_on_whatsapp": [131026],
    "invalid_number": [100, 131009, 131021],
    "opted_out_or_blocked": [131050],
    "template_unavailable": [132001, 132007, 132015, 132016],
    "template_params_mismatch": [132000, 132005, 132008, 132012],
    "quality_throttled": [131048],
    "tier_limit_reached": [131064],
    "marketing_frequency_cap": [131049],
    "outside_service_window": [131047, 470],
    "rate_limited": [130429, 131056, 4, 80007],
    "experiment": [130472],
    "account_problem": [368, 131031, 131042, 131030],
    "message_invalid": [131051, 131053],
    "transient": [131000, 131016, 1, 2],
}


def _fixture_errors() -> list[dict[str, object]]:
    return [
        event["error"]
        for case in load_cases()
        for event in case.expect["events"]
        if event.get("error")
    ]


@pytest.mark.parametrize(
    ("category", "code"),
    [(cat, code) for cat, codes in CATEGORY_CODES.items() for code in codes],
)
def test_code_belongs_to_its_category(category: str, code: int) -> None:
    assert lookup(code).category == category


def test_every_category_but_unknown_has_a_code() -> None:
    named = {info.category for info in CATALOGUE.values()}

    assert named == set(FailureCategory) - {FailureCategory.UNKNOWN}


def test_category_values_are_the_plain_strings() -> None:
    values = [str(category) for category in FailureCategory]

    assert values == [category.name.lower() for category in FailureCategory]


@pytest.mark.parametrize("error", _fixture_errors(), ids=lambda e: e["code"])
def test_catalogue_agrees_with_the_cases(error: dict[str, object]) -> None:
    info = lookup(int(str(error["code"])))

    assert (info.category, info.retryable) == (
        error["category"],
        error["retryable"],
    )


def test_marketing_cap_is_retried_after_a_day() -> None:
    info = lookup(131049)

    assert info.retryable
    assert info.retry_after == timedelta(days=1)


def test_marketing_cap_never_counts_toward_inactive() -> None:
    assert lookup(131049).contact_effect is ContactEffect.NONE


def test_only_unreachable_numbers_count_toward_inactive() -> None:
    counting = {
        info.category
        for info in CATALOGUE.values()
        if info.contact_effect is ContactEffect.COUNTS_TOWARD_INACTIVE
    }

    assert counting == {"not_on_whatsapp", "invalid_number"}


def test_stopped_marketing_opts_the_contact_out() -> None:
    opting_out = [
        code
        for code, info in CATALOGUE.items()
        if info.contact_effect is ContactEffect.OPT_OUT
    ]

    assert opting_out == [131050]


def test_recipient_failures_are_not_retryable() -> None:
    assert not lookup(131026).retryable
    assert not lookup(131050).retryable
    assert not lookup(131047).retryable


def test_a_wait_is_given_only_for_retryable_codes() -> None:
    waits = [info for info in CATALOGUE.values() if info.retry_after]

    assert waits
    assert all(info.retryable for info in waits)


def test_every_entry_tells_the_user_what_to_do() -> None:
    for code, info in CATALOGUE.items():
        assert info.code == code
        assert info.title
        assert len(info.action) > 40


def test_known_code_keeps_our_title() -> None:
    info = lookup(131026, "Message undeliverable")

    assert info.title == "Recipient can't receive WhatsApp messages"


def test_unknown_code_keeps_metas_title() -> None:
    info = lookup(139999, "Something new at Meta")

    assert info.code == 139999
    assert info.category is FailureCategory.UNKNOWN
    assert info.title == "Something new at Meta"


def test_unknown_code_without_a_title_names_the_code() -> None:
    assert lookup(139999).title == "Unknown error 139999"


def test_unknown_code_says_nothing_about_the_contact() -> None:
    info = lookup(139999)

    assert not info.retryable
    assert info.contact_effect is ContactEffect.NONE
