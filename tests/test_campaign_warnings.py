"""What Meta says about templates, numbers and accounts, on the campaign.

Each test registers a campaign on the shared cases' number, posts the
shared cases (or a body made like them) to the real webhook endpoint,
and reads the campaign's warnings back through GraphQL.
"""

from __future__ import annotations

import time
from typing import Any

from tests.sender import (
    CASES,
    DISPLAY_NUMBER,
    PHONE_NUMBER_ID,
    WABA_ID,
    Send,
    case_sends,
    edited_case,
    post,
    post_case,
    start_campaign,
    waba_change,
)
from tests.stack import Stack
from xobito import webhooks

WARNINGS = """
query ($id: ID!) {
  campaign(id: $id) { warnings { kind severity title action since } }
}
"""

NUMBER = """
query ($id: ID!) {
  campaign(id: $id) {
    businessNumber {
      phoneNumberId displayPhoneNumber qualityEvent qualityEventAt
      limitEvent currentLimit oldLimit maxDaily restrictions { type until }
    }
  }
}
"""

PAUSED_AT = 1772449200  # 2026-03-02T11:00:00Z, the paused case's time


def warnings(stack: Stack, api_key: str, campaign_id: str) -> list[dict[str, Any]]:
    answer = stack.graphql(WARNINGS, api_key, id=campaign_id)
    found: list[dict[str, Any]] = answer["campaign"]["warnings"]
    return found


def business_number(stack: Stack, api_key: str, campaign_id: str) -> dict[str, Any]:
    answer = stack.graphql(NUMBER, api_key, id=campaign_id)
    found: dict[str, Any] = answer["campaign"]["businessNumber"]
    return found


def template_update(event: str, at: int, name: str = "spring_sale_2026") -> bytes:
    return waba_change(
        "message_template_status_update",
        at,
        event=event,
        message_template_id=900000000000001,
        message_template_name=name,
        message_template_language="en_US",
        reason="NONE",
    )


# -- templates ---------------------------------------------------------


def test_a_paused_template_warns_its_campaign_in_plain_words(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, language="en_US")

    post_case(stack, "template_status_paused")

    assert warnings(stack, api_key, campaign_id) == [
        {
            "kind": "TEMPLATE_STATUS",
            "severity": "BLOCKING",
            "title": "Template spring_sale_2026 was paused by Meta for low quality",
            "action": "Sends fail with 132015 until it is reinstated (first"
            " pause: 3 hours). Hold the campaign, or send the rest with"
            " another approved template.",
            "since": "2026-03-02T11:00:00Z",
        }
    ]


def test_a_second_pause_says_it_lasts_six_hours(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, language="en_US")

    post(stack, template_update("PAUSED", PAUSED_AT))
    post(stack, template_update("REINSTATED", PAUSED_AT + 3 * 3600))
    post(stack, template_update("PAUSED", PAUSED_AT + 4 * 3600))

    [warning] = warnings(stack, api_key, campaign_id)
    assert "(second pause: 6 hours)" in warning["action"]


def test_a_reinstated_template_clears_the_warning(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, language="en_US")

    post_case(stack, "template_status_paused")
    post(stack, template_update("REINSTATED", PAUSED_AT + 3 * 3600))

    assert warnings(stack, api_key, campaign_id) == []


def test_a_reinstatement_older_than_the_pause_does_not_clear_it(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, language="en_US")

    post(stack, template_update("REINSTATED", PAUSED_AT + 3 * 3600))
    post(stack, template_update("PAUSED", PAUSED_AT + 4 * 3600))
    post(stack, template_update("APPROVED", PAUSED_AT - 3600))

    [warning] = warnings(stack, api_key, campaign_id)
    assert warning["since"] == "2026-03-02T15:00:00Z"


def test_a_pause_of_another_language_does_not_warn(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, language="es_MX")

    post_case(stack, "template_status_paused")

    assert warnings(stack, api_key, campaign_id) == []


def test_without_a_language_the_warning_names_the_paused_one(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    post_case(stack, "template_status_paused")

    [warning] = warnings(stack, api_key, campaign_id)
    assert warning["title"].startswith("Template spring_sale_2026 (en_US) was")


def test_a_rejected_template_warns_only_the_campaigns_using_it(
    stack: Stack, api_key: str, clean: None
) -> None:
    spring = start_campaign(stack)
    flash = start_campaign(stack, template="flash_deal_v2", language="es_MX")

    post_case(stack, "template_status_rejected")

    assert warnings(stack, api_key, spring) == []
    [warning] = warnings(stack, api_key, flash)
    assert warning["severity"] == "BLOCKING"
    assert warning["title"] == (
        "Template flash_deal_v2 was rejected by Meta (INVALID_FORMAT)"
    )


def test_template_failures_point_at_the_paused_template(
    stack: Stack, api_key: str, clean: None
) -> None:
    phone, wamid = "16505551234", "wamid.warnings-paused-1"
    campaign_id = start_campaign(stack, Send(phone, wamid), language="en_US")
    failed = {
        "id": wamid,
        "status": "failed",
        "timestamp": str(PAUSED_AT + 60),
        "recipient_id": phone,
        "errors": [{"code": 132015, "title": "Template is paused"}],
    }

    post_case(stack, "template_status_paused")
    post(stack, _statuses(failed))
    query = "query ($id: ID!) { campaign(id: $id) { failureReasons { code hint } } }"
    reasons = stack.graphql(query, api_key, id=campaign_id)["campaign"]

    assert reasons["failureReasons"] == [
        {
            "code": 132015,
            "hint": "Template spring_sale_2026 was paused by Meta for low quality",
        }
    ]


def test_failures_without_a_warning_have_no_hint(
    stack: Stack, api_key: str, clean: None
) -> None:
    case = CASES["status_failed_131026_undeliverable"]
    campaign_id = start_campaign(stack, *case_sends(case))

    post_case(stack, "template_status_paused")
    post_case(stack, case.name)
    query = "query ($id: ID!) { campaign(id: $id) { failureReasons { code hint } } }"
    reasons = stack.graphql(query, api_key, id=campaign_id)["campaign"]

    assert reasons["failureReasons"] == [{"code": 131026, "hint": None}]


# -- the business number -------------------------------------------------


def test_a_flagged_number_warns_to_pause_campaigns(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    post_case(stack, "phone_quality_flagged")

    [warning] = warnings(stack, api_key, campaign_id)
    assert warning["kind"] == "QUALITY_RATING"
    assert warning["severity"] == "WARNING"
    assert warning["title"] == (
        "Quality rating dropped: pause campaigns for 24 to 48 hours"
    )
    assert warning["since"] == "2026-03-02T11:30:00Z"


def test_the_only_number_of_the_waba_takes_its_quality_updates(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    post_case(stack, "phone_quality_flagged")

    assert business_number(stack, api_key, campaign_id) == {
        "phoneNumberId": PHONE_NUMBER_ID,
        "displayPhoneNumber": DISPLAY_NUMBER,
        "qualityEvent": "FLAGGED",
        "qualityEventAt": "2026-03-02T11:30:00Z",
        "limitEvent": None,
        "currentLimit": "TIER_10K",
        "oldLimit": None,
        "maxDaily": 10000,
        "restrictions": [],
    }


def test_a_quality_update_for_another_display_number_is_not_ours(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, display_phone_number="+1 650 555 8888")

    post_case(stack, "phone_quality_flagged")

    assert warnings(stack, api_key, campaign_id) == []
    assert business_number(stack, api_key, campaign_id)["qualityEvent"] is None


def test_a_downgrade_warns_of_the_tier_limit(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, display_phone_number=DISPLAY_NUMBER)

    post_case(stack, "phone_quality_flagged")
    post_case(stack, "phone_quality_downgrade")

    kinds = [(w["kind"], w["since"]) for w in warnings(stack, api_key, campaign_id)]
    number = business_number(stack, api_key, campaign_id)
    assert kinds == [
        ("MESSAGING_LIMIT", "2026-03-02T12:30:00Z"),
        ("QUALITY_RATING", "2026-03-02T11:30:00Z"),
    ]
    assert (number["limitEvent"], number["oldLimit"]) == ("DOWNGRADE", "TIER_10K")
    assert (number["currentLimit"], number["maxDaily"]) == ("TIER_2K", 2000)


def test_the_tier_warning_says_what_happens_to_the_rest(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    post_case(stack, "phone_quality_downgrade")

    [warning] = warnings(stack, api_key, campaign_id)
    assert warning["title"] == (
        "Messaging tier limit reached: remaining messages go out when the"
        " 24-hour window resets"
    )
    assert warning["action"].startswith(
        "Messaging tier lowered to TIER_2K (2,000 people per 24 hours)."
    )


def test_an_unflagged_number_no_longer_warns(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    post_case(stack, "phone_quality_flagged")
    post(
        stack,
        waba_change(
            "phone_number_quality_update",
            1772451000 + 86400,
            display_phone_number=DISPLAY_NUMBER,
            event="UNFLAGGED",
            current_limit="TIER_10K",
        ),
    )

    assert warnings(stack, api_key, campaign_id) == []


def test_a_campaign_without_a_waba_has_no_number_warnings(
    stack: Stack, api_key: str, clean: None
) -> None:
    start_campaign(stack)
    campaign_id = start_campaign(stack, waba_id="")

    post_case(stack, "phone_quality_flagged")

    assert warnings(stack, api_key, campaign_id) == []


# -- the account ---------------------------------------------------------


def test_an_expired_restriction_shows_no_warning(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    # The case's restriction ended on 2026-03-03.
    post_case(stack, "account_update_restriction")

    assert warnings(stack, api_key, campaign_id) == []
    assert business_number(stack, api_key, campaign_id)["restrictions"] == []


def test_a_restriction_in_force_blocks_until_it_expires(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    tomorrow = (int(time.time()) // 3600 + 24) * 3600
    restriction = {
        "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
        "expiration": tomorrow,
    }

    post(
        stack, edited_case("account_update_restriction", restriction_info=[restriction])
    )
    [warning] = warnings(stack, api_key, campaign_id)
    number = business_number(stack, api_key, campaign_id)

    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(tomorrow))
    assert warning["kind"] == "ACCOUNT_RESTRICTION"
    assert warning["severity"] == "BLOCKING"
    assert warning["title"] == (
        f"Business account restricted from starting conversations until {until}"
    )
    assert number["restrictions"] == [
        {
            "type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
            "until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tomorrow)),
        }
    ]


def test_blocking_warnings_come_first(stack: Stack, api_key: str, clean: None) -> None:
    campaign_id = start_campaign(stack, language="en_US")
    restriction = {
        "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
        "expiration": int(time.time()) + 86400,
    }

    post_case(stack, "phone_quality_flagged")
    post_case(stack, "template_status_paused")
    post(
        stack, edited_case("account_update_restriction", restriction_info=[restriction])
    )

    severities = [w["severity"] for w in warnings(stack, api_key, campaign_id)]
    assert severities == ["BLOCKING", "BLOCKING", "WARNING"]


def _statuses(*statuses: dict[str, Any]) -> bytes:
    return webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number=DISPLAY_NUMBER,
        statuses=statuses,
    )
