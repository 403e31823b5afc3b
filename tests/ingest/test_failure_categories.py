"""Every failure category of the catalogue, from Meta to the campaign page.

For one error code of each category, a failed status posted to the
webhook endpoint (or a send Meta refused at once) shows up in GraphQL
as the recipient's failure and in the campaign's failure reasons, with
the catalogue's words for it.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.stack import Stack
from xobito import webhooks
from xobito.failures import CATALOGUE, FailureCategory, lookup
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

WORKSPACE = "test"
RECIPIENT = "16505550042"
SENT_AT = 1_772_445_600  # 2026-03-02T10:00:00Z
# A code the catalogue does not know: Meta's own title stands for it.
UNKNOWN_CODE = 139999
META_TITLE = "Meta's title for this error"

QUERY = """
query($id: ID!) {
  campaign(id: $id) {
    counters { failed }
    failureReasons { code category title action count }
    recipients(first: 10) {
      edges { node { status failure { code category title action retryable } } }
    }
  }
}
"""


def code_of(category: FailureCategory) -> int:
    """The lowest catalogue code of category."""
    if category is FailureCategory.UNKNOWN:
        return UNKNOWN_CODE
    codes = [info.code for info in CATALOGUE.values() if info.category is category]
    assert codes, f"the catalogue has no code for {category}"
    return min(codes)


CATEGORIES = list(FailureCategory)


def start_campaign(stack: Stack) -> tuple[str, str]:
    """A campaign on a number of its own, with one recipient; (id, number)."""
    number = "1" + "".join(secrets.choice("0123456789") for _ in range(14))
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Failure categories",
                phone_number_id=number,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            pb.AddRecipientsRequest(
                campaign_id=campaign.id, recipients=[pb.Recipient(phone=RECIPIENT)]
            ),
            timeout=10,
        )
    return str(campaign.id), number


def record_send(stack: Stack, campaign_id: str, send: pb.Send) -> None:
    send.phone = RECIPIENT
    send.sent_at.FromSeconds(SENT_AT)
    with stack.channel("metrics") as channel:
        MetricsServiceStub(channel).RecordSends(
            pb.RecordSendsRequest(campaign_id=campaign_id, sends=[send]), timeout=10
        )


def expected(code: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The recipient's failure and the campaign's reasons, per the catalogue."""
    info = lookup(code, META_TITLE)
    failure = {
        "code": code,
        "category": info.category.value,
        "title": info.title,
        "action": info.action,
        "retryable": info.retryable,
    }
    reason = {key: failure[key] for key in ("code", "category", "title", "action")}
    return failure, [{**reason, "count": 1}]


def campaign_page(stack: Stack, api_key: str, campaign_id: str) -> Any:
    return stack.graphql(QUERY, api_key, id=campaign_id)["campaign"]


@pytest.mark.parametrize("category", CATEGORIES, ids=[c.value for c in CATEGORIES])
def test_a_failed_status_shows_its_category_and_reason(
    stack: Stack, api_key: str, category: FailureCategory
) -> None:
    code = code_of(category)
    campaign_id, number = start_campaign(stack)
    wamid = f"wamid.category-{secrets.token_hex(8)}"
    record_send(stack, campaign_id, pb.Send(wamid=wamid))
    body = webhooks.body(
        waba_id="200000000000001",
        phone_number_id=number,
        display_phone_number="16505559999",
        statuses=[
            webhooks.status(
                wamid,
                "failed",
                SENT_AT + 3,
                RECIPIENT,
                error_code=code,
                error_title=META_TITLE,
            )
        ],
    )

    reply = stack.post_webhook(body)

    campaign = campaign_page(stack, api_key, campaign_id)
    [edge] = campaign["recipients"]["edges"]
    failure, reasons = expected(code)
    assert reply.status_code == 200
    assert edge["node"] == {"status": "FAILED", "failure": failure}
    assert campaign["failureReasons"] == reasons
    assert campaign["counters"] == {"failed": 1}


@pytest.mark.parametrize("category", CATEGORIES, ids=[c.value for c in CATEGORIES])
def test_a_send_meta_refused_shows_its_category_and_reason(
    stack: Stack, api_key: str, category: FailureCategory
) -> None:
    code = code_of(category)
    campaign_id, _ = start_campaign(stack)

    record_send(stack, campaign_id, pb.Send(error_code=code, error_title=META_TITLE))

    campaign = campaign_page(stack, api_key, campaign_id)
    [edge] = campaign["recipients"]["edges"]
    failure, reasons = expected(code)
    assert edge["node"] == {"status": "FAILED", "failure": failure}
    assert campaign["failureReasons"] == reasons
    assert campaign["counters"] == {"failed": 1}
