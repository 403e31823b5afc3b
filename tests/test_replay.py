"""A webhook delivered again changes nothing, however late it comes.

Meta redelivers a webhook it believes lost with the very same bytes and
signature, sometimes hours later, and may batch the same events into
other bodies. Each test compares everything the system keeps (every row
of every table, every Redis key, and what the APIs show: counters,
recipient rows with their timelines, contacts with their history)
before and after the replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
import redis
from google.protobuf.json_format import MessageToDict

from tests.stack import Stack
from xobito import webhooks
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.contacts.v1.contacts_pb2_grpc import ContactsServiceStub
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

WORKSPACE = "replay-test"
PHONE_NUMBER_ID = "100000000073301"
WABA_ID = "200000000073301"
DISPLAY_NUMBER = "16505550733"
ANA, BEN, CAI = "15550733001", "15550733002", "15550733003"
SENT_AT = 1_767_000_000
WAMIDS = {phone: f"wamid.replay.{phone}" for phone in (ANA, BEN, CAI)}
DATA_SCHEMAS = ("metrics", "contacts", "ingest")

pytestmark = pytest.mark.usefixtures("clean")


def body(
    statuses: Sequence[dict[str, Any]] = (),
    messages: Sequence[dict[str, Any]] = (),
) -> bytes:
    return webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number=DISPLAY_NUMBER,
        statuses=statuses,
        messages=messages,
    )


def status(phone: str, value: str, after: int, **error: Any) -> dict[str, Any]:
    return webhooks.status(WAMIDS[phone], value, SENT_AT + after, phone, **error)


def text(
    phone: str, words: str, after: int, *, quoting: bool = False
) -> dict[str, Any]:
    return webhooks.text_message(
        f"wamid.replay.in.{phone}.{after}",
        phone,
        SENT_AT + after,
        words,
        context_wamid=WAMIDS[phone] if quoting else "",
        business_number=DISPLAY_NUMBER,
    )


# Ana receives and answers; Ben's message fails; Cai opts out.
FIRST_STATUSES = [
    status(ANA, "sent", 1),
    status(ANA, "delivered", 5),
    status(BEN, "sent", 1),
    status(BEN, "failed", 9, error_code=131026, error_title="Message undeliverable"),
    status(CAI, "delivered", 4),
]
FIRST_MESSAGES = [
    text(ANA, "Is this still available?", 60, quoting=True),
    text(CAI, "STOP", 90),
]
FIRST = body(FIRST_STATUSES, FIRST_MESSAGES)
# What comes later: Ana reads, and Ben writes after all.
LATER = body([status(ANA, "read", 300)], [text(BEN, "Hello?", 400)])


def start_campaign(stack: Stack) -> str:
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Replay",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                template_name="spring_sale",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[mpb.Recipient(phone=phone) for phone in WAMIDS],
            ),
            timeout=10,
        )
        sends = []
        for phone, wamid in WAMIDS.items():
            send = mpb.Send(phone=phone, wamid=wamid)
            send.sent_at.FromSeconds(SENT_AT)
            sends.append(send)
        metrics.RecordSends(
            mpb.RecordSendsRequest(campaign_id=campaign.id, sends=sends),
            timeout=10,
        )
    return str(campaign.id)


def recorded(stack: Stack, campaign_id: str) -> dict[str, Any]:
    """Everything the system keeps and shows about the campaign."""
    return {
        "tables": _tables(stack),
        "redis": _redis(stack),
        **_metrics_view(stack, campaign_id),
        "contacts": {phone: _contact_view(stack, phone) for phone in WAMIDS},
    }


def _tables(stack: Stack) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(stack.servers.postgres.url) as conn:
        names = [
            f"{schema}.{table}"
            for schema, table in conn.execute(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname = ANY(%s) ORDER BY 1, 2",
                [list(DATA_SCHEMAS)],
            )
        ]
        return {
            name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            for name in names
        }


def _redis(stack: Stack) -> dict[str, Any]:
    client = redis.Redis.from_url(stack.servers.valkey.url, decode_responses=True)
    with client:
        return {
            key: client.hgetall(key) if client.type(key) == "hash" else client.get(key)
            for key in sorted(map(str, client.keys("*")))
        }


def _metrics_view(stack: Stack, campaign_id: str) -> dict[str, Any]:
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        campaign = metrics.GetCampaign(
            mpb.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
            timeout=10,
        )
        rows = metrics.ListRecipients(
            mpb.ListRecipientsRequest(
                workspace_id=WORKSPACE, campaign_id=campaign_id, page_size=10
            ),
            timeout=10,
        )
    return {"campaign": MessageToDict(campaign), "rows": MessageToDict(rows)}


def _contact_view(stack: Stack, phone: str) -> dict[str, Any]:
    with stack.channel("contacts") as channel:
        contacts = ContactsServiceStub(channel)
        contact = contacts.GetContact(
            cpb.GetContactRequest(workspace_id=WORKSPACE, phone=phone), timeout=10
        )
        history = contacts.ListHistory(
            cpb.ListHistoryRequest(workspace_id=WORKSPACE, phone=phone, page_size=50),
            timeout=10,
        )
        flags = contacts.ListFlagHistory(
            cpb.ListFlagHistoryRequest(
                workspace_id=WORKSPACE, phone=phone, page_size=50
            ),
            timeout=10,
        )
    return {
        "contact": MessageToDict(contact),
        "history": MessageToDict(history),
        "flags": MessageToDict(flags),
    }


def post(stack: Stack, webhook: bytes) -> None:
    reply = stack.post_webhook(webhook)
    assert reply.status_code == 200, reply.text


def test_the_same_webhook_posted_again_changes_nothing(stack: Stack) -> None:
    campaign_id = start_campaign(stack)
    post(stack, FIRST)
    before = recorded(stack, campaign_id)

    post(stack, FIRST)

    assert recorded(stack, campaign_id) == before
    counters = before["campaign"]["counters"]
    # A STOP is an answer too: Cai replied and opted out.
    assert {name: int(n) for name, n in counters.items()} == {
        "sent": 3,
        "delivered": 2,
        "failed": 1,
        "replied": 2,
        "optedOut": 1,
    }


def test_the_same_webhook_posted_after_later_ones_changes_nothing(
    stack: Stack,
) -> None:
    campaign_id = start_campaign(stack)
    post(stack, FIRST)
    first = recorded(stack, campaign_id)
    post(stack, LATER)
    before = recorded(stack, campaign_id)

    post(stack, FIRST)
    post(stack, LATER)

    assert before != first, "the later webhook changed nothing to compare"
    assert recorded(stack, campaign_id) == before


def test_its_events_batched_into_other_bodies_change_nothing(stack: Stack) -> None:
    campaign_id = start_campaign(stack)
    post(stack, FIRST)
    before = recorded(stack, campaign_id)

    for event in FIRST_STATUSES:
        post(stack, body(statuses=[event]))
    for message in FIRST_MESSAGES:
        post(stack, body(messages=[message]))

    assert recorded(stack, campaign_id) == before
