"""Billable messages per pricing category, from each status's pricing.

Meta repeats a message's pricing on its sent and delivered statuses; the
campaign counts each message once.
"""

from __future__ import annotations

from typing import Any

from tests.sender import (
    CASES,
    DISPLAY_NUMBER,
    PHONE_NUMBER_ID,
    WABA_ID,
    Send,
    case_sends,
    post,
    post_case,
    record_sends,
    start_campaign,
)
from tests.stack import Stack
from xobito import webhooks

COST = """
query ($id: ID!) {
  campaign(id: $id) { cost { billable byCategory { category count } } }
}
"""

SENT_AT = 1772445600  # 2026-03-02T10:00:00Z


def cost(stack: Stack, api_key: str, campaign_id: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.graphql(COST, api_key, id=campaign_id)["campaign"][
        "cost"
    ]
    return found


def priced(
    wamid: str, value: str, at: int, phone: str, category: str, billable: bool
) -> dict[str, Any]:
    status = webhooks.status(wamid, value, at, phone)
    status["pricing"] = {
        "billable": billable,
        "pricing_model": "PMP",
        "category": category,
        "type": "regular",
    }
    return status


def statuses(*items: dict[str, Any]) -> bytes:
    return webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number=DISPLAY_NUMBER,
        statuses=items,
    )


def test_a_message_priced_on_sent_and_delivered_counts_once(
    stack: Stack, api_key: str, clean: None
) -> None:
    sends = case_sends(CASES["status_sent_basic"])
    campaign_id = start_campaign(stack, *sends)

    post_case(stack, "status_sent_basic")
    post_case(stack, "status_delivered_basic")

    assert cost(stack, api_key, campaign_id) == {
        "billable": 1,
        "byCategory": [{"category": "marketing", "count": 1}],
    }


def test_messages_are_counted_per_category_most_first(
    stack: Stack, api_key: str, clean: None
) -> None:
    phones = ["16505550201", "16505550202", "16505550203"]
    wamids = [f"wamid.cost-{phone}" for phone in phones]
    sends = [Send(phone, f"wamid.cost-{phone}") for phone in phones]
    campaign_id = start_campaign(stack, *sends)

    post(
        stack,
        statuses(
            priced(wamids[0], "sent", SENT_AT + 1, phones[0], "utility", True),
            priced(wamids[1], "sent", SENT_AT + 1, phones[1], "marketing", True),
            priced(wamids[2], "sent", SENT_AT + 1, phones[2], "marketing", True),
            priced(wamids[2], "delivered", SENT_AT + 2, phones[2], "marketing", True),
        ),
    )

    assert cost(stack, api_key, campaign_id) == {
        "billable": 3,
        "byCategory": [
            {"category": "marketing", "count": 2},
            {"category": "utility", "count": 1},
        ],
    }


def test_a_message_is_billable_when_any_of_its_statuses_says_so(
    stack: Stack, api_key: str, clean: None
) -> None:
    phone, wamid = "16505550301", "wamid.cost-late-billable"
    campaign_id = start_campaign(stack, Send(phone, wamid))

    post(
        stack, statuses(priced(wamid, "delivered", SENT_AT + 5, phone, "service", True))
    )
    post(stack, statuses(priced(wamid, "sent", SENT_AT + 1, phone, "service", False)))

    assert cost(stack, api_key, campaign_id)["billable"] == 1


def test_messages_meta_does_not_bill_are_not_counted(
    stack: Stack, api_key: str, clean: None
) -> None:
    phone, wamid = "16505550401", "wamid.cost-free"
    campaign_id = start_campaign(stack, Send(phone, wamid))

    post(stack, statuses(priced(wamid, "sent", SENT_AT + 1, phone, "service", False)))

    assert cost(stack, api_key, campaign_id) == {"billable": 0, "byCategory": []}


def test_an_early_status_is_counted_when_its_send_arrives(
    stack: Stack, api_key: str, clean: None
) -> None:
    case = CASES["status_unknown_wamid"]
    event = case.expect["events"][0]
    campaign_id = start_campaign(stack)

    post_case(stack, case.name)
    before = cost(stack, api_key, campaign_id)
    record_sends(stack, campaign_id, Send(event["recipient"], event["wamid"]))

    assert before["billable"] == 0
    assert cost(stack, api_key, campaign_id) == {
        "billable": 1,
        "byCategory": [{"category": "utility", "count": 1}],
    }
