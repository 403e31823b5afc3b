"""The warnings' rules and words, as pure functions of Meta's latest say."""

from __future__ import annotations

from datetime import UTC, datetime

from services.metrics.warnings import (
    CampaignWarning,
    NumberStanding,
    Restriction,
    Severity,
    TemplateStatus,
    WarningKind,
    hint,
    number_warnings,
    ordered,
    template_warnings,
)

AT = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def template(event: str, *, pauses: int = 0, reason: str = "NONE") -> TemplateStatus:
    return TemplateStatus("spring_sale_2026", "en_US", event, reason, AT, pauses)


def warning(kind: WarningKind, severity: Severity, hour: int) -> CampaignWarning:
    at = AT.replace(hour=hour)
    return CampaignWarning(kind, severity, f"{kind.name} at {hour}", "", at)


def test_an_approved_or_reinstated_template_has_no_warning() -> None:
    statuses = [template("APPROVED"), template("REINSTATED")]

    assert template_warnings(statuses, language_known=True) == []


def test_a_flagged_template_still_sends_so_it_only_warns() -> None:
    [found] = template_warnings([template("FLAGGED")], language_known=True)

    assert found.severity is Severity.WARNING
    assert found.title == "Template spring_sale_2026 was flagged for low quality"


def test_a_disabled_template_says_it_never_sends_again() -> None:
    [found] = template_warnings([template("DISABLED")], language_known=True)

    assert found.severity is Severity.BLOCKING
    assert "132016" in found.action
    assert "never sends again" in found.action


def test_a_third_pause_says_how_many_there_were() -> None:
    [found] = template_warnings([template("PAUSED", pauses=3)], language_known=True)

    assert "(paused 3 times)" in found.action


def test_an_event_we_do_not_know_still_warns_by_its_name() -> None:
    [found] = template_warnings([template("SOMETHING_NEW")], language_known=True)

    assert found.severity is Severity.WARNING
    assert found.title == "Meta reported SOMETHING_NEW for Template spring_sale_2026"


def test_a_restriction_on_adding_numbers_does_not_block_sends() -> None:
    number = NumberStanding(
        "100000000000001",
        restrictions=[Restriction("RESTRICTED_ADD_PHONE_NUMBER_ACTION")],
    )

    [found] = number_warnings(number)

    assert found.kind is WarningKind.ACCOUNT_RESTRICTION
    assert found.severity is Severity.WARNING


def test_an_unflagged_number_has_no_warning() -> None:
    number = NumberStanding("100000000000001", quality_event="UNFLAGGED")

    assert number_warnings(number) == []


def test_an_upgrade_after_a_downgrade_clears_the_tier_warning() -> None:
    number = NumberStanding("100000000000001", limit_event="UPGRADE")

    assert number_warnings(number) == []


def test_warnings_are_ordered_most_severe_then_newest() -> None:
    older = warning(WarningKind.QUALITY_RATING, Severity.WARNING, 9)
    newer = warning(WarningKind.MESSAGING_LIMIT, Severity.WARNING, 12)
    blocking = warning(WarningKind.TEMPLATE_STATUS, Severity.BLOCKING, 8)

    assert ordered([older, newer, blocking]) == [blocking, newer, older]


def test_a_hint_is_the_title_of_the_warning_of_the_failure_category() -> None:
    warnings = [
        warning(WarningKind.QUALITY_RATING, Severity.WARNING, 9),
        warning(WarningKind.MESSAGING_LIMIT, Severity.WARNING, 10),
    ]

    assert hint("tier_limit_reached", warnings) == "MESSAGING_LIMIT at 10"
    assert hint("template_unavailable", warnings) == ""
    assert hint("not_on_whatsapp", warnings) == ""
