"""The gateway in front of the real services: webhooks in, GraphQL out."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.gateway.support import COUNTERS, make_key
from tests.gateway.wsclient import socket
from tests.stack import Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

WORKSPACE = "test"
PHONE_NUMBER_ID = "100000000000001"
SENT_AT = 1772445600  # 2026-03-02T10:00:00Z
PHONES = ["16505550101", "16505550102", "16505550103"]

CAMPAIGN = """
query ($id: ID!) {
  campaign(id: $id) {
    name status recipientTotal
    counters { sent delivered read failed sentPct deliveredPct readPct failedPct }
    failureReasons { code category count }
    recipients(sort: STATUS_DESC) {
      totalCount
      edges { node { phone status deliveredAt readAt timeline { status at } } }
    }
  }
}
"""


def wamid(phone: str) -> str:
    return f"wamid.gateway-e2e-{phone}"


def start_campaign(stack: Stack) -> str:
    """A campaign of three recipients, all handed to Meta at SENT_AT."""
    sent_at = Timestamp(seconds=SENT_AT)
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Gateway end to end",
                phone_number_id=PHONE_NUMBER_ID,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[mpb.Recipient(phone=phone) for phone in PHONES],
            ),
            timeout=10,
        )
        metrics.RecordSends(
            mpb.RecordSendsRequest(
                campaign_id=campaign.id,
                sends=[
                    mpb.Send(phone=phone, wamid=wamid(phone), sent_at=sent_at)
                    for phone in PHONES
                ],
            ),
            timeout=10,
        )
    return str(campaign.id)


def webhook(*statuses: webhooks.JSON, messages: Sequence[webhooks.JSON] = ()) -> bytes:
    return webhooks.body(
        waba_id="200000000000001",
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="16505559999",
        statuses=statuses,
        messages=messages,
    )


def post(stack: Stack, body: bytes) -> None:
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text


def test_webhooks_show_up_in_the_campaign(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    first, second, _ = PHONES

    post(
        stack,
        webhook(
            webhooks.status(wamid(first), "delivered", SENT_AT + 5, first),
            webhooks.status(wamid(first), "read", SENT_AT + 60, first),
            webhooks.status(
                wamid(second),
                "failed",
                SENT_AT + 2,
                second,
                error_code=131026,
                error_title="Message undeliverable.",
            ),
        ),
    )
    campaign = stack.graphql(CAMPAIGN, api_key, id=campaign_id)["campaign"]

    assert campaign["recipientTotal"] == 3
    assert campaign["counters"] == {
        "sent": 3,
        "delivered": 1,
        "read": 1,
        "failed": 1,
        "sentPct": 100.0,
        "deliveredPct": 33.3,
        "readPct": 33.3,
        "failedPct": 33.3,
    }
    assert campaign["failureReasons"] == [
        {"code": 131026, "category": "not_on_whatsapp", "count": 1}
    ]
    read = campaign["recipients"]["edges"][0]["node"]
    assert read["phone"] == first
    assert read["deliveredAt"] == "2026-03-02T10:00:05Z"
    assert read["readAt"] == "2026-03-02T10:01:00Z"


def test_another_workspace_cannot_see_the_campaign(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    stranger = make_key(stack.servers, "gateway-e2e-stranger")

    answer = stack.graphql(CAMPAIGN, stranger, id=campaign_id)

    assert answer == {"campaign": None}


def test_a_subscriber_sees_new_counters_within_a_second(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    first = PHONES[0]
    delivered = webhooks.status(wamid(first), "delivered", SENT_AT + 5, first)

    with socket(stack.gateway_url) as ws:
        assert ws.init(api_key) == {"type": "connection_ack"}
        ws.subscribe(COUNTERS, id=campaign_id)
        now = ws.receive()["payload"]["data"]["campaignCounters"]
        post(stack, webhook(delivered))
        answered = time.monotonic()
        pushed = ws.receive(timeout=1)["payload"]["data"]["campaignCounters"]

    assert time.monotonic() - answered < 1
    assert (now["sent"], now["delivered"]) == (3, 0)
    assert (pushed["sent"], pushed["delivered"]) == (3, 1)
    assert pushed["deliveredPct"] == 33.3


def test_a_contact_who_wrote_stop_is_opted_out(
    stack: Stack, api_key: str, clean: None
) -> None:
    start_campaign(stack)
    phone = PHONES[2]
    stop = webhooks.text_message("wamid.gateway-e2e-stop", phone, SENT_AT + 120, "STOP")

    post(stack, webhook(messages=[stop]))
    query = "query ($p: String!) { contact(phone: $p) { phone optedOut } }"
    contact = stack.graphql(query, api_key, p="+1 650-555-0103")["contact"]

    assert contact == {"phone": phone, "optedOut": True}


@pytest.mark.parametrize("phone", ["+1 650 555 0199", "16505550199"])
def test_a_number_the_workspace_never_saw_is_null(
    stack: Stack, api_key: str, phone: str
) -> None:
    query = "query ($p: String!) { contact(phone: $p) { phone } }"

    assert stack.graphql(query, api_key, p=phone) == {"contact": None}
