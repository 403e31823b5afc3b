"""One body, many workspaces: each change reaches its own campaign.

Meta batches the changes of several business numbers into one POST,
entry by entry (a WABA each), change by change (a number each). Here
one body carries a number of the workspace `test`, a number of another
workspace, and a number of no workspace at all.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from tests.stack import Stack
from xobito import webhooks
from xobito.ingest.v1 import ingest_pb2
from xobito.ingest.v1.ingest_pb2_grpc import IngestServiceStub
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

RECIPIENT = "16505550077"
SENT_AT = 1_772_445_600  # 2026-03-02T10:00:00Z


def new_number() -> str:
    return "1" + "".join(secrets.choice("0123456789") for _ in range(14))


@dataclass(frozen=True)
class Sender:
    """A workspace's campaign on a number of its own, one message sent."""

    workspace: str
    number: str
    waba: str
    wamid: str
    campaign_id: str = ""


def start(stack: Stack, workspace: str) -> Sender:
    number, tag = new_number(), secrets.token_hex(6)
    waba = "2" + number[1:]
    wamid = f"wamid.routing-{tag}"
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=workspace,
                name="Routing",
                phone_number_id=number,
                waba_id=waba,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        send = pb.Send(phone=RECIPIENT, wamid=wamid)
        send.sent_at.FromSeconds(SENT_AT)
        metrics.RecordSends(
            pb.RecordSendsRequest(campaign_id=campaign.id, sends=[send]), timeout=10
        )
    return Sender(workspace, number, waba, wamid, campaign.id)


def change(number: str, *statuses: webhooks.JSON) -> Any:
    """One change of field `messages`, from the business number `number`."""
    body = webhooks.body(
        waba_id="",
        phone_number_id=number,
        display_phone_number="16505559999",
        statuses=statuses,
    )
    return json.loads(body)["entry"][0]["changes"][0]


def status(wamid: str, value: str, after_s: int) -> webhooks.JSON:
    return webhooks.status(wamid, value, SENT_AT + after_s, RECIPIENT)


@dataclass(frozen=True)
class Posted:
    status_code: int
    ours: Sender
    theirs: Sender
    nobodys_number: str


@pytest.fixture(scope="module")
def posted(stack: Stack) -> Posted:
    """The mixed body, posted once for every test of the module."""
    ours = start(stack, "test")
    theirs = start(stack, f"routing-{secrets.token_hex(4)}")
    nobodys = new_number()
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": ours.waba,
                "changes": [
                    change(ours.number, status(ours.wamid, "delivered", 5)),
                    change(nobodys, status("wamid.nobodys", "delivered", 5)),
                ],
            },
            {
                "id": theirs.waba,
                "changes": [
                    # Our wamid under their number must not touch our
                    # campaign: routing is by the change's number.
                    change(
                        theirs.number,
                        status(theirs.wamid, "read", 9),
                        status(ours.wamid, "read", 9),
                    ),
                ],
            },
        ],
    }

    reply = stack.post_webhook(json.dumps(document).encode())

    return Posted(reply.status_code, ours, theirs, nobodys)


def row(stack: Stack, sender: Sender) -> pb.RecipientRow:
    with stack.channel("metrics") as channel:
        page = MetricsServiceStub(channel).ListRecipients(
            pb.ListRecipientsRequest(
                workspace_id=sender.workspace, campaign_id=sender.campaign_id
            ),
            timeout=10,
        )
    [found] = page.recipients
    return found


def test_a_body_for_several_workspaces_is_answered_200(posted: Posted) -> None:
    assert posted.status_code == 200


def test_each_change_reaches_its_own_workspaces_campaign(
    stack: Stack, posted: Posted
) -> None:
    ours, theirs = row(stack, posted.ours), row(stack, posted.theirs)

    assert ours.status == pb.RECIPIENT_STATUS_DELIVERED
    assert theirs.status == pb.RECIPIENT_STATUS_READ


def test_a_status_under_another_workspaces_number_changes_nothing(
    stack: Stack, posted: Posted
) -> None:
    ours = row(stack, posted.ours)

    assert [entry.status for entry in ours.timeline] == ["DELIVERED"]
    assert not ours.HasField("read_at")


def test_the_change_of_a_number_of_no_workspace_is_kept_unroutable(
    stack: Stack, posted: Posted
) -> None:
    target = f"127.0.0.1:{stack.ports['ingest_grpc']}"
    with grpc.insecure_channel(target) as channel:
        listed = IngestServiceStub(channel).ListUnroutableEvents(
            ingest_pb2.ListUnroutableEventsRequest(page_size=500), timeout=10
        )

    kept = [
        (event.kind, event.route_key)
        for event in listed.events
        if event.route_key in (posted.nobodys_number, posted.ours.number)
    ]
    assert kept == [("status", posted.nobodys_number)]
