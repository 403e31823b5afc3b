"""The recipients table of a 1,000,000-recipient campaign, through GraphQL.

The campaign is made the way a sender makes one, over gRPC: recipients,
sends, then statuses in large batches straight to metrics (no webhooks).
Then a filtered sorted page, a phone search and a name search are asked
through the gateway, as the campaign page asks them.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import psycopg

from bench.timing import sample_ms, summary
from gateway.apikeys import create_key
from tests.stack import Stack
from xobito.ingest.v1 import events_pb2
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc

WORKSPACE = "bench"
NUMBER = "100000000000001"
BATCH = 5_000
START = 1_767_000_000
FIRST = (
    "Ana",
    "José",
    "Zoë",
    "Mateus",
    "Priya",
    "Chloé",
    "Lukas",
    "Fatima",
    "Noah",
    "Søren",
    "Aisha",
    "Björn",
    "Lucía",
    "Wei",
    "Olga",
    "Tomás",
)
LAST = (
    "Silva",
    "García",
    "Müller",
    "Dubois",
    "Sharma",
    "Rossi",
    "van Dijk",
    "Kowalski",
    "Nguyen",
    "Ólafsson",
    "Santos",
    "Kim",
    "Novák",
    "Haddad",
)

PAGE = """query ($id: ID!, $sort: RecipientSort) { campaign(id: $id) {
  recipients(status: READ, sort: $sort, first: 50) { totalCount
    pageInfo { endCursor } edges { node { phone name status readAt } } } } }"""
SEARCH = """query ($id: ID!, $q: String) { campaign(id: $id) {
  recipients(search: $q, first: 50) { totalCount
    edges { node { phone name status sentAt } } } } }"""


def _phone(index: int) -> str:
    return f"1555{index:07d}"


def _name(index: int) -> str:
    return f"{FIRST[index % len(FIRST)]} {LAST[(index // 7) % len(LAST)]} {index}"


def _build(stub: metrics_pb2_grpc.MetricsServiceStub, total: int) -> str:
    campaign = stub.CreateCampaign(
        metrics_pb2.CreateCampaignRequest(
            workspace_id=WORKSPACE,
            name="bench",
            phone_number_id=NUMBER,
            template_name="bench_template",
        ),
        timeout=30,
    )
    for start in range(0, total, BATCH):
        indexes = range(start, min(total, start + BATCH))
        stub.AddRecipients(
            metrics_pb2.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[
                    metrics_pb2.Recipient(phone=_phone(i), name=_name(i))
                    for i in indexes
                ],
            ),
            timeout=300,
        )
        sends = []
        for i in indexes:
            send = metrics_pb2.Send(phone=_phone(i), wamid=f"wamid.bench-{i}")
            send.sent_at.FromSeconds(START + i // 100)
            sends.append(send)
        stub.RecordSends(
            metrics_pb2.RecordSendsRequest(campaign_id=campaign.id, sends=sends),
            timeout=300,
        )

        # 70% delivered, half of those read, 3% failed as not on WhatsApp.
        batch = events_pb2.EventBatch()
        for i in indexes:
            fate = i % 100
            kinds = (
                ["delivered"]
                if fate < 35
                else ["delivered", "read"]
                if fate < 70
                else ["failed"]
                if fate < 73
                else []
            )
            for offset, kind in enumerate(kinds, start=1):
                event = batch.statuses.add(
                    phone_number_id=NUMBER,
                    workspace_id=WORKSPACE,
                    wamid=f"wamid.bench-{i}",
                    status=kind,
                    recipient=_phone(i),
                )
                event.occurred_at.FromSeconds(START + i // 100 + offset * 30)
                if kind == "failed":
                    event.error.code = 131026
                    event.error.category = "not_on_whatsapp"
        stub.RecordEvents(metrics_pb2.RecordEventsRequest(batch=batch), timeout=300)
        done = start + len(indexes)
        if done % 100_000 == 0 or done == total:
            print(f"  recipients: {done:,} of {total:,}", flush=True)
    return str(campaign.id)


def measure(stack: Stack, *, recipients: int = 1_000_000, **_: Any) -> dict[str, Any]:
    with psycopg.connect(stack.servers.postgres.url) as conn:
        key = create_key(conn, WORKSPACE)
    started = time.perf_counter()
    with stack.channel("metrics") as channel:
        campaign_id = _build(metrics_pb2_grpc.MetricsServiceStub(channel), recipients)
    built_s = time.perf_counter() - started

    rng = random.Random(1)
    sorts = ["READ_AT_DESC", "READ_AT", "SENT_AT_DESC", "STATUS"]
    with httpx.Client(
        base_url=stack.gateway_url,
        timeout=60,
        headers={"Authorization": f"Bearer {key}"},
    ) as client:

        def ask(query: str, **variables: Any) -> None:
            reply = client.post(
                "/graphql",
                json={"query": query, "variables": {"id": campaign_id, **variables}},
            )
            payload = reply.json()
            assert "errors" not in payload, payload["errors"]
            assert payload["data"]["campaign"]["recipients"]["totalCount"] > 0

        page = sample_ms(lambda i: ask(PAGE, sort=sorts[i % len(sorts)]), count=60)
        phone = sample_ms(
            lambda _: ask(SEARCH, q=_phone(rng.randrange(recipients))[3:9]), count=60
        )
        name = sample_ms(
            lambda _: ask(SEARCH, q=rng.choice(LAST)[1:5].lower()), count=60
        )

    return {
        "recipients_1m": {
            "recipients": recipients,
            "build_s": round(built_s, 1),
            "page_p95_ms": summary(page)["p95_ms"],
            "phone_search_p95_ms": summary(phone)["p95_ms"],
            "name_search_p95_ms": summary(name)["p95_ms"],
            "page_p50_ms": summary(page)["p50_ms"],
            "phone_search_p50_ms": summary(phone)["p50_ms"],
            "name_search_p50_ms": summary(name)["p50_ms"],
        }
    }
