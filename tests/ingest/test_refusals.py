"""Ingest in front of a metrics that refuses every batch for good.

A refusal that a retry cannot change (INVALID_ARGUMENT) must not make
Meta redeliver for days: the batch is kept as a dead letter instead.
The stand-in metrics is real gRPC; only its answers are made up.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import psycopg
import pytest

from tests.ingest.test_dead_letters import keep, xobito
from tests.stack import Servers, Stack
from xobito import webhooks
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.devstack import free_port
from xobito.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc

PHONE_NUMBER_ID = "100000000000555"
WORKSPACE = "refusals"


class RefusingMetrics(metrics_pb2_grpc.MetricsServiceServicer):
    def ResolveRoutes(self, request: Any, context: Any) -> Any:
        return metrics_pb2.ResolveRoutesResponse(
            phone_numbers=[
                metrics_pb2.Route(key=key, workspace_id=WORKSPACE)
                for key in request.phone_number_ids
                if key == PHONE_NUMBER_ID
            ]
        )

    def RecordEvents(self, request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "status has no wamid")


class AcceptingContacts(contacts_pb2_grpc.ContactsServiceServicer):
    def RecordEvents(self, request: Any, context: Any) -> Any:
        return contacts_pb2.RecordEventsResponse()


@pytest.fixture(scope="module")
def ingest(servers: Servers) -> Iterator[Stack]:
    """Ingest alone, its metrics and contacts stand-ins beside it."""
    # The stand-ins implement only what ingest calls; the generated bases
    # answer UNIMPLEMENTED for the rest.
    metrics = RefusingMetrics()  # type: ignore[abstract]
    contacts = AcceptingContacts()  # type: ignore[abstract]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metrics_pb2_grpc.add_MetricsServiceServicer_to_server(metrics, server)
    contacts_pb2_grpc.add_ContactsServiceServicer_to_server(contacts, server)
    target = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(target)
    server.start()
    stack = Stack(
        servers,
        extra_env={"METRICS_TARGET": target, "CONTACTS_TARGET": target},
    )
    try:
        stack.start("ingest")
        yield stack
    finally:
        stack.stop()
        server.stop(grace=None)


def read(wamid: str, phone: str = "1650") -> bytes:
    """A body reporting wamid read, from the number metrics refuses for."""
    return webhooks.body(
        waba_id="200000000000001",
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="16505559999",
        statuses=[webhooks.status(wamid, "read", 1_767_000_000, phone)],
    )


def test_a_batch_metrics_refuses_for_good_is_kept_and_answered_200(
    ingest: Stack,
) -> None:
    reply = ingest.post_webhook(read("wamid.refused"))

    assert reply.status_code == 200
    with psycopg.connect(ingest.servers.postgres.url) as conn:
        [(reason, element)] = conn.execute(
            "SELECT reason, element FROM ingest.dead_letters"
            " WHERE kind = 'metrics_batch' AND element::text LIKE %s",
            ['%"wamid.refused"%'],
        ).fetchall()
    assert reason == "metrics answered INVALID_ARGUMENT: status has no wamid"
    assert element["statuses"][0]["wamid"] == "wamid.refused"
    assert element["statuses"][0]["workspace_id"] == WORKSPACE


def _erase(ingest: Stack, workspace_id: str, phone: str) -> None:
    target = f"127.0.0.1:{ingest.ports['ingest_grpc']}"
    with grpc.insecure_channel(target) as channel:
        ingest_pb2_grpc.IngestServiceStub(channel).EraseContact(
            ingest_pb2.EraseContactRequest(workspace_id=workspace_id, phone=phone),
            timeout=10,
        )


def _letters_quoting(ingest: Stack, phone: str) -> int:
    with psycopg.connect(ingest.servers.postgres.url) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM ingest.dead_letters WHERE element::text LIKE %s",
            [f"%{phone}%"],
        ).fetchall()
    return int(count)


def test_a_refused_batch_is_erased_by_its_workspace_only(ingest: Stack) -> None:
    phone = "16505550177"
    body = read("wamid.refused-erased", phone)
    assert ingest.post_webhook(body).status_code == 200

    _erase(ingest, "another-workspace", phone)
    kept = _letters_quoting(ingest, phone)
    _erase(ingest, WORKSPACE, phone)

    assert kept == 1
    assert _letters_quoting(ingest, phone) == 0


def test_a_replay_whose_batch_a_service_refuses_keeps_its_letter(
    ingest: Stack,
) -> None:
    body = read("wamid.replayed-refused").decode()
    letter_id = keep(ingest, "webhook", "unexpected KeyError", {"body": body})

    done = xobito(ingest, "replay", str(letter_id))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "kept again by ingest: metrics answered INVALID_ARGUMENT" in done.stdout
    with psycopg.connect(ingest.servers.postgres.url) as conn:
        kept = conn.execute(
            "SELECT count(*) FROM ingest.dead_letters WHERE id = %s", [letter_id]
        ).fetchone()
    assert kept == (1,)
