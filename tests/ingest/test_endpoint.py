"""The webhook endpoint through the running system: HTTP in, gRPC out.

Each test uses numbers and wamids of its own, so that tests need not
empty the stores and routes cached by ingest never mislead another test.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import psycopg
import pytest

from tests.stack import APP_SECRET, VERIFY_TOKEN, Stack
from xobito import webhooks
from xobito.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc

WORKSPACE = "ingest-test"
WABA_ID = "200000000000001"
RECIPIENT = "16505550001"
SENT_AT = 1_767_000_000
WEBHOOK = "/webhooks/whatsapp"


def new_number() -> str:
    """A phone_number_id no other test uses."""
    return "1" + "".join(secrets.choice("0123456789") for _ in range(14))


def delivered(phone_number_id: str, wamid: str) -> bytes:
    """A body reporting wamid delivered, from the number phone_number_id."""
    return webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=phone_number_id,
        display_phone_number="16505559999",
        statuses=[webhooks.status(wamid, "delivered", SENT_AT + 5, RECIPIENT)],
    )


def sent(stack: Stack) -> tuple[str, str, str]:
    """A number no other test uses, a wamid sent from it, and its campaign."""
    phone_number_id, wamid = new_number(), f"wamid.{secrets.token_hex(8)}"
    return phone_number_id, wamid, register_send(stack, phone_number_id, wamid)


def register_send(stack: Stack, phone_number_id: str, wamid: str) -> str:
    """A campaign on phone_number_id with one message sent; its id."""
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            metrics_pb2.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="ingest test",
                phone_number_id=phone_number_id,
                template_name="spring_sale",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            metrics_pb2.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[metrics_pb2.Recipient(phone=RECIPIENT)],
            ),
            timeout=10,
        )
        send = metrics_pb2.Send(phone=RECIPIENT, wamid=wamid)
        send.sent_at.FromSeconds(SENT_AT)
        metrics.RecordSends(
            metrics_pb2.RecordSendsRequest(
                campaign_id=campaign.id,
                sends=[send],
            ),
            timeout=10,
        )
    return str(campaign.id)


def counters(stack: Stack, campaign_id: str) -> metrics_pb2.Counters:
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.GetCampaign(
            metrics_pb2.GetCampaignRequest(
                workspace_id=WORKSPACE, campaign_id=campaign_id
            ),
            timeout=10,
        )
    return campaign.counters


def ingest_rows(stack: Stack, table: str, **where: str) -> list[dict[str, Any]]:
    condition = " AND ".join(f"{column} = %s" for column in where) or "true"
    with psycopg.connect(stack.servers.postgres.url) as conn:
        cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cursor.execute(
            f"SELECT * FROM ingest.{table} WHERE {condition} ORDER BY id",
            list(where.values()),
        ).fetchall()


def ingest_row_count(stack: Stack) -> int:
    return len(ingest_rows(stack, "unroutable_events")) + len(
        ingest_rows(stack, "dead_letters")
    )


@pytest.fixture
def ingest_service(stack: Stack) -> Iterator[ingest_pb2_grpc.IngestServiceStub]:
    target = f"127.0.0.1:{stack.ports['ingest_grpc']}"
    with grpc.insecure_channel(target) as channel:
        yield ingest_pb2_grpc.IngestServiceStub(channel)


@pytest.fixture
def metrics_down(stack: Stack) -> Iterator[None]:
    """Metrics killed for the test, and started again after it."""
    stack.kill("metrics")
    try:
        yield
    finally:
        stack.start_service("metrics")


def post_until_recorded(stack: Stack, body: bytes) -> httpx.Response:
    """Post body as Meta does after a failure: again until it is taken."""
    deadline = time.monotonic() + 15
    while True:
        reply = stack.post_webhook(body)
        if reply.status_code != 503 or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


# -- the handshake -------------------------------------------------------


def test_the_handshake_echoes_the_challenge_for_the_verify_token(
    stack: Stack,
) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    reply = httpx.get(f"{stack.ingest_url}{WEBHOOK}", params=params)

    assert reply.status_code == 200
    assert reply.text == "1158201444"
    assert reply.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN},
        {"hub.mode": "subscribe"},
    ],
    ids=["wrong token", "wrong mode", "no token"],
)
def test_the_handshake_is_refused_without_the_verify_token(
    stack: Stack, params: dict[str, str]
) -> None:
    reply = httpx.get(
        f"{stack.ingest_url}{WEBHOOK}", params={**params, "hub.challenge": "1"}
    )

    assert reply.status_code == 403


def test_healthz_answers_ok(stack: Stack) -> None:
    reply = httpx.get(f"{stack.ingest_url}/healthz")

    assert reply.json() == {"status": "ok"}


# -- refused deliveries --------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "sha256=" + "0" * 64,
        "md5=abc",
        webhooks.sign(b"another body", APP_SECRET),
    ],
    ids=["missing", "wrong", "malformed", "of another body"],
)
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(
    stack: Stack, signature: str
) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    rows_before = ingest_row_count(stack)

    body = delivered(phone_number_id, wamid)

    reply = stack.post_webhook(body, signature=signature)

    assert reply.status_code == 401
    assert "X-Hub-Signature-256" in reply.json()["error"]
    assert counters(stack, campaign_id).delivered == 0
    assert ingest_row_count(stack) == rows_before


def test_a_body_that_is_not_json_is_refused(stack: Stack) -> None:
    reply = stack.post_webhook(b"object=whatsapp_business_account")

    assert reply.status_code == 400
    assert reply.json() == {"error": "body is not valid JSON"}


def test_json_that_is_not_a_webhook_is_refused(stack: Stack) -> None:
    reply = stack.post_webhook(b'{"object": "page", "entry": []}')

    assert reply.status_code == 400
    assert "not a WhatsApp Business" in reply.json()["error"]


def test_a_body_of_another_content_type_is_refused(stack: Stack) -> None:
    body = delivered(new_number(), "wamid.1")

    reply = stack.post_webhook(
        body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert reply.status_code == 400
    assert "Content-Type" in reply.json()["error"]


def test_a_json_content_type_with_a_charset_is_taken(stack: Stack) -> None:
    body = webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=new_number(),
        display_phone_number="16505559999",
    )

    reply = stack.post_webhook(
        body, headers={"Content-Type": "application/json; charset=utf-8"}
    )

    assert reply.status_code == 200


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_compressed_body_is_refused(stack: Stack, encoding: str) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    # Labelled compressed, though it is not: the label is what is refused.
    body = delivered(phone_number_id, wamid)

    reply = stack.post_webhook(body, headers={"Content-Encoding": encoding})

    assert reply.status_code == 415
    assert "Content-Encoding" in reply.json()["error"]
    assert counters(stack, campaign_id).delivered == 0


def test_a_body_compressed_in_a_second_content_encoding_header_is_refused(
    stack: Stack,
) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    body = delivered(phone_number_id, wamid)

    reply = stack.post_webhook(
        body, headers=[("Content-Encoding", "identity"), ("Content-Encoding", "gzip")]
    )

    assert reply.status_code == 415
    assert counters(stack, campaign_id).delivered == 0


@pytest.mark.parametrize("encoding", ["identity", "Identity", ""])
def test_an_identity_content_encoding_is_taken(stack: Stack, encoding: str) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)

    reply = stack.post_webhook(
        delivered(phone_number_id, wamid), headers={"Content-Encoding": encoding}
    )

    assert reply.status_code == 200
    assert counters(stack, campaign_id).delivered == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_another_method_is_refused_naming_the_three_allowed(
    stack: Stack, method: str
) -> None:
    reply = httpx.request(method, f"{stack.ingest_url}{WEBHOOK}")

    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET, HEAD, POST"


def test_a_webhook_to_the_path_with_a_trailing_slash_is_not_found(
    stack: Stack,
) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    body = delivered(phone_number_id, wamid)

    reply = stack.post_webhook(
        body, path=f"{WEBHOOK}/", headers={"Host": "elsewhere.example"}
    )

    assert reply.status_code == 404
    assert "location" not in reply.headers
    assert counters(stack, campaign_id).delivered == 0


def test_a_body_over_one_mib_is_refused(stack: Stack) -> None:
    body = b" " * (1024 * 1024 + 1)

    reply = stack.post_webhook(body)

    assert reply.status_code == 413


def test_a_streamed_body_over_one_mib_is_refused(stack: Stack) -> None:
    # Without Content-Length the size is known only by reading.
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    reply = httpx.post(
        f"{stack.ingest_url}{WEBHOOK}",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )

    assert reply.status_code == 413


# -- recorded deliveries -------------------------------------------------


def test_a_signed_webhook_is_recorded(stack: Stack) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)

    reply = stack.post_webhook(delivered(phone_number_id, wamid))

    assert reply.status_code == 200
    assert counters(stack, campaign_id).delivered == 1


def test_an_unroutable_event_is_kept_once_when_posted_twice(
    stack: Stack,
) -> None:
    phone_number_id = new_number()
    body = delivered(phone_number_id, "wamid.unroutable")

    replies = [stack.post_webhook(body), stack.post_webhook(body)]

    assert [reply.status_code for reply in replies] == [200, 200]
    [row] = ingest_rows(stack, "unroutable_events", route_key=phone_number_id)
    assert row["kind"] == "status"
    assert row["payload"]["wamid"] == "wamid.unroutable"


def test_unroutable_events_are_listed_newest_first(
    stack: Stack, ingest_service: ingest_pb2_grpc.IngestServiceStub
) -> None:
    older, newer = new_number(), new_number()
    for phone_number_id in (older, newer):
        stack.post_webhook(delivered(phone_number_id, "wamid.listed"))

    listed = ingest_service.ListUnroutableEvents(
        ingest_pb2.ListUnroutableEventsRequest(page_size=2), timeout=10
    )

    assert [event.route_key for event in listed.events] == [newer, older]
    assert listed.total_count >= 2


def test_an_unreadable_element_is_kept_and_the_rest_recorded(
    stack: Stack,
) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    broken = {"status": "delivered", "timestamp": str(SENT_AT)}  # no id
    body = webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=phone_number_id,
        display_phone_number="16505559999",
        statuses=[
            broken,
            webhooks.status(wamid, "delivered", SENT_AT + 5, RECIPIENT),
        ],
    )

    reply = stack.post_webhook(body)

    assert reply.status_code == 200
    assert counters(stack, campaign_id).delivered == 1
    letters = [
        row
        for row in ingest_rows(stack, "dead_letters", kind="status")
        if phone_number_id in row["element"]["body"]
    ]
    assert [row["reason"] for row in letters] == ["status has no id"]


# -- when a service is down ----------------------------------------------


@pytest.mark.usefixtures("metrics_down")
def test_a_webhook_is_answered_503_while_metrics_is_down(stack: Stack) -> None:
    reply = stack.post_webhook(delivered(new_number(), "wamid.down"))

    assert reply.status_code == 503
    assert "error" in reply.json()
    assert reply.headers["retry-after"] == "1"
    lines = stack.log_path("ingest").read_text().splitlines()
    webhooks = [json.loads(line) for line in lines if '"event":"webhook"' in line]
    assert (webhooks[-1]["http_status"], webhooks[-1]["level"]) == (503, "warning")


def test_a_webhook_retried_after_a_503_counts_once(stack: Stack) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    body = delivered(phone_number_id, wamid)

    stack.kill("metrics")
    try:
        refused = stack.post_webhook(body)
    finally:
        stack.start_service("metrics")
    retried = post_until_recorded(stack, body)
    again = stack.post_webhook(body)

    assert [refused.status_code, retried.status_code, again.status_code] == [
        503,
        200,
        200,
    ]
    assert counters(stack, campaign_id).delivered == 1


def test_message_with_a_nul_character_is_recorded_without_it(
    stack: Stack,
) -> None:
    number = new_number()
    register_send(stack, number, "wamid.nul-" + secrets.token_hex(6))
    text = "see you\x00 tomorrow"
    body = webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=number,
        display_phone_number="16505559999",
        messages=[
            webhooks.text_message(
                "wamid.in-" + secrets.token_hex(6), RECIPIENT, SENT_AT + 60, text
            )
        ],
    )

    reply = stack.post_webhook(body)

    assert reply.status_code == 200
    with psycopg.connect(stack.servers.postgres.url) as conn:
        stored = conn.execute(
            "SELECT text FROM contacts.messages WHERE workspace_id = %s",
            [WORKSPACE],
        ).fetchall()
    assert ("see you tomorrow",) in stored
