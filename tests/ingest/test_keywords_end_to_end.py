"""A workspace's own stop keyword counts in its campaign's optedOut.

Each test has workspaces and a business number of its own, so that no
keywords another test left in ingest's cache can answer for them.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from tests.gateway.support import make_key
from tests.stack import Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

RECIPIENT = "16505550088"

SET_KEYWORDS = """
mutation ($stop: [String!]!) {
  setStopKeywords(stop: $stop, start: []) { __typename }
}
"""

OUTCOME = """
query ($id: ID!, $phone: String!) {
  campaign(id: $id) { counters { optedOut } }
  contact(phone: $phone) { optedOut optedOutReason }
}
"""


@dataclass(frozen=True)
class Campaign:
    """A workspace's campaign, sent to RECIPIENT a minute ago."""

    api_key: str
    number: str
    id: str


def new_number() -> str:
    return "1" + "".join(secrets.choice("0123456789") for _ in range(14))


def new_workspace() -> str:
    return f"keywords-{secrets.token_hex(4)}"


def campaign_of(stack: Stack, workspace: str) -> Campaign:
    """A new campaign of the workspace, on a new number, sent to RECIPIENT."""
    api_key = make_key(stack.servers, workspace)
    number = new_number()
    send = pb.Send(phone=RECIPIENT, wamid=f"wamid.keywords-{secrets.token_hex(6)}")
    send.sent_at.FromSeconds(int(time.time()) - 60)
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        created = metrics.CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=workspace,
                name="Own keywords",
                phone_number_id=number,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.RecordSends(
            pb.RecordSendsRequest(campaign_id=created.id, sends=[send]), timeout=10
        )
    return Campaign(api_key, number, created.id)


def recipient_writes(stack: Stack, campaign: Campaign, text: str) -> None:
    message = webhooks.text_message(
        f"wamid.keywords-{secrets.token_hex(6)}", RECIPIENT, int(time.time()), text
    )
    body = webhooks.body(
        waba_id="",
        phone_number_id=campaign.number,
        display_phone_number="16505559988",
        messages=[message],
    )
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text


def outcome(stack: Stack, campaign: Campaign) -> tuple[int, bool]:
    """The campaign's optedOut counter, and whether RECIPIENT is opted out."""
    data = stack.graphql(OUTCOME, campaign.api_key, id=campaign.id, phone=RECIPIENT)
    return data["campaign"]["counters"]["optedOut"], data["contact"]["optedOut"]


def test_the_workspaces_own_stop_word_counts_in_the_campaign(
    stack: Stack,
) -> None:
    campaign = campaign_of(stack, new_workspace())
    stack.graphql(SET_KEYWORDS, campaign.api_key, stop=["ya no"])

    recipient_writes(stack, campaign, "¡Ya no!")

    assert outcome(stack, campaign) == (1, True)


def test_the_stop_word_of_another_workspace_does_nothing(stack: Stack) -> None:
    campaign = campaign_of(stack, new_workspace())
    other = make_key(stack.servers, new_workspace())
    stack.graphql(SET_KEYWORDS, other, stop=["ya no"])

    recipient_writes(stack, campaign, "¡Ya no!")

    assert outcome(stack, campaign) == (0, False)
