"""The webhook endpoint, fuzzed through the running system.

Bodies for a number that has a campaign, so that whatever ingest takes
reaches metrics and contacts. A body refused (400, or 401 for a body
that is not the one signed) writes nothing anywhere; a body spelt as
Meta spells it verifies and keeps its text exactly; no answer is a 5xx,
and none takes long (each post has a short timeout).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.examples import examples
from tests.ingest.fuzzing import (
    Draw,
    Spelling,
    any_text,
    decimals,
    digits,
    epochs,
    message_webhook,
    mutate,
    spell,
    spellings,
)
from tests.stack import APP_SECRET, Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

WORKSPACE = "fuzz-test"
# A number of its own: another workspace owns the simulator's.
PHONE_NUMBER_ID = "100000000077701"
DATA_SCHEMAS = ("metrics", "contacts", "ingest")
# Far longer than any answer takes; a hang fails the example.
ANSWER_WITHIN_S = 10.0

fuzzing = settings(
    max_examples=examples(2),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def routed(stack: Stack) -> Iterator[Stack]:
    """The stack, with a campaign on PHONE_NUMBER_ID, so bodies route."""
    with stack.channel("metrics") as channel:
        MetricsServiceStub(channel).CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Fuzzing",
                phone_number_id=PHONE_NUMBER_ID,
                template_name="spring_sale",
            ),
            timeout=10,
        )
    yield stack


def post(stack: Stack, body: bytes, signature: str) -> httpx.Response:
    reply = stack.http.post(
        f"{stack.ingest_url}/webhooks/whatsapp",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature,
        },
        timeout=ANSWER_WITHIN_S,
    )
    assert reply.status_code < 500, reply.text
    return reply


def written(stack: Stack) -> dict[str, int]:
    """How many rows each table of the services holds, and Redis keys."""
    with psycopg.connect(stack.servers.postgres.url) as conn:
        tables = [
            f"{schema}.{table}"
            for schema, table in conn.execute(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname = ANY(%s)",
                [list(DATA_SCHEMAS)],
            )
        ]
        counts = " UNION ALL ".join(
            f"SELECT '{name}', count(*) FROM {name}" for name in tables
        )
        found = dict(conn.execute(counts).fetchall())
    with redis.Redis.from_url(stack.servers.valkey.url) as client:
        found["redis keys"] = client.dbsize()
    return found


def a_webhook(uuid: UUID) -> bytes:
    """A webhook that would be recorded: a status and a message."""
    wamid = f"wamid.fuzz.{uuid.hex}"
    return webhooks.body(
        waba_id="200000000000001",
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="16505559999",
        statuses=[webhooks.status(wamid, "delivered", 1_767_000_000, "15550001")],
        messages=[webhooks.text_message(wamid, "15550001", 1_767_000_060, "Hi")],
    )


@st.composite
def damaged_webhooks(draw: Draw[Any]) -> bytes:
    """A webhook that would be recorded, cut short or with a byte changed."""
    return mutate(a_webhook(draw(st.uuids())), draw)


not_webhooks = st.one_of(
    st.binary(max_size=100),
    st.lists(st.integers()).map(lambda items: json.dumps(items).encode()),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3).map(
        lambda document: json.dumps(document).encode()
    ),
    st.just(b'{"object": "whatsapp_business_account", "entry": NaN}'),
    damaged_webhooks(),
)


@fuzzing
@given(body=not_webhooks)
@example(body=b"[" * 100_000)
def test_a_body_refused_as_no_webhook_writes_nothing(
    routed: Stack, body: bytes
) -> None:
    before = written(routed)

    reply = post(routed, body, webhooks.sign(body, APP_SECRET))

    # A damaged webhook may still be one (a changed letter of a text).
    if reply.status_code != 200:
        assert reply.status_code == 400, reply.text
        assert written(routed) == before


@fuzzing
@given(uuid=st.uuids(), data=st.data())
def test_a_body_other_than_the_one_signed_writes_nothing(
    routed: Stack, uuid: UUID, data: st.DataObject
) -> None:
    signed = a_webhook(uuid)
    body = mutate(signed, data.draw)
    before = written(routed)

    reply = post(routed, body, webhooks.sign(signed, APP_SECRET))

    if body != signed:
        assert reply.status_code == 401, reply.text
        assert written(routed) == before


def kept_text(stack: Stack, sender: str, wamid: str) -> str | None:
    with psycopg.connect(stack.servers.postgres.url) as conn:
        row = conn.execute(
            "SELECT text FROM contacts.messages"
            " WHERE workspace_id = %s AND phone = %s AND wamid = %s",
            [WORKSPACE, sender, wamid],
        ).fetchone()
    return None if row is None else str(row[0])


@fuzzing
@given(
    text=any_text,
    sender=digits,
    at=epochs,
    latitude=decimals,
    spelling=spellings,
)
def test_a_body_spelt_as_meta_spells_it_is_taken_with_its_text(
    routed: Stack,
    text: str,
    sender: str,
    at: str,
    latitude: Decimal,
    spelling: Spelling,
) -> None:
    document = message_webhook(text, sender, at, latitude, PHONE_NUMBER_ID)
    body = spell(document, spelling)

    reply = post(routed, body, webhooks.sign(body, APP_SECRET))

    assert reply.status_code == 200, reply.text
    (message,) = document["entry"][0]["changes"][0]["value"]["messages"]
    assert kept_text(routed, sender, message["id"]) == text.replace("\x00", "")


def test_a_body_python_would_write_otherwise_is_taken_as_sent(
    routed: Stack,
) -> None:
    text = "März 2/3 😀"
    document = message_webhook(
        text, "15550001234", "1767000000", Decimal("1.50"), PHONE_NUMBER_ID
    )
    meta = Spelling(ascii_only=True, slash=True, upper_hex=False, spaced=False)
    body = spell(document, meta)
    for spelt in (rb"M\u00e4rz", rb"2\/3", rb"\ud83d\ude00", b"1.50"):
        assert spelt in body
    assert json.dumps(json.loads(body)).encode() != body

    reply = post(routed, body, webhooks.sign(body, APP_SECRET))

    assert reply.status_code == 200, reply.text
    (message,) = document["entry"][0]["changes"][0]["value"]["messages"]
    assert kept_text(routed, "15550001234", message["id"]) == text
