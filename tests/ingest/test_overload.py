"""Ingest in front of services too slow for the webhooks it is sent.

With INGEST_MAX_IN_FLIGHT webhooks already waiting for metrics and
contacts, the next is answered 503 at once, which Meta retries, rather
than queued behind them without bound. A webhook takes its place among
those only once its body is in and signed, so that slow senders without
the secret cannot take every place. The stand-ins are real gRPC; they
hold every RecordEvents call until the test lets them answer.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from tests.stack import Servers, Stack
from xobito import webhooks
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.devstack import free_port
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc

PHONE_NUMBER_ID = "100000000000777"
WORKSPACE = "overload"
HOLD_SECONDS = 30
BODY_TIMEOUT_SECONDS = 2


class SlowServices:
    """Metrics and contacts that answer RecordEvents only once released."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.released = threading.Event()

    def ResolveRoutes(self, request: Any, context: Any) -> Any:
        return metrics_pb2.ResolveRoutesResponse(
            phone_numbers=[
                metrics_pb2.Route(key=key, workspace_id=WORKSPACE)
                for key in request.phone_number_ids
            ]
        )

    def RecordEvents(self, request: Any, context: Any) -> Any:
        self.called.set()
        self.released.wait(HOLD_SECONDS)
        if isinstance(request, contacts_pb2.RecordEventsRequest):
            return contacts_pb2.RecordEventsResponse()
        return metrics_pb2.RecordEventsResponse()


class SlowMetrics(metrics_pb2_grpc.MetricsServiceServicer):
    def __init__(self, services: SlowServices) -> None:
        self._services = services

    def ResolveRoutes(self, request: Any, context: Any) -> Any:
        return self._services.ResolveRoutes(request, context)

    def RecordEvents(self, request: Any, context: Any) -> Any:
        return self._services.RecordEvents(request, context)


class SlowContacts(contacts_pb2_grpc.ContactsServiceServicer):
    def __init__(self, services: SlowServices) -> None:
        self._services = services

    def RecordEvents(self, request: Any, context: Any) -> Any:
        return self._services.RecordEvents(request, context)


@pytest.fixture(scope="module")
def services() -> SlowServices:
    return SlowServices()


@pytest.fixture(autouse=True)
def held(services: SlowServices) -> Iterator[None]:
    """Every test starts with the services holding their answers."""
    services.called.clear()
    services.released.clear()
    yield
    services.released.set()


@pytest.fixture(scope="module")
def target(services: SlowServices) -> Iterator[str]:
    """Where the slow stand-ins of metrics and contacts answer."""
    # The stand-ins implement only what ingest calls; the generated bases
    # answer UNIMPLEMENTED for the rest.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    metrics_pb2_grpc.add_MetricsServiceServicer_to_server(
        SlowMetrics(services),  # type: ignore[abstract]
        server,
    )
    contacts_pb2_grpc.add_ContactsServiceServicer_to_server(
        SlowContacts(services),  # type: ignore[abstract]
        server,
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    server.start()
    try:
        yield address
    finally:
        services.released.set()
        server.stop(grace=None)


def ingest_before(servers: Servers, target: str, **env: str) -> Iterator[Stack]:
    stack = Stack(
        servers,
        extra_env={"METRICS_TARGET": target, "CONTACTS_TARGET": target, **env},
    )
    try:
        stack.start("ingest")
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def ingest(servers: Servers, target: str) -> Iterator[Stack]:
    """Ingest alone, taking one webhook at a time, before slow services."""
    yield from ingest_before(
        servers,
        target,
        INGEST_MAX_IN_FLIGHT="1",
        INGEST_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_SECONDS),
    )


@pytest.fixture(scope="module")
def small_buffer(servers: Servers, target: str) -> Iterator[Stack]:
    """Ingest holding at most 1 MiB of bodies still arriving."""
    yield from ingest_before(servers, target, INGEST_RECEIVE_BUFFER_MB="1")


def delivered(wamid: str) -> bytes:
    return webhooks.body(
        waba_id="200000000000001",
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="16505559999",
        statuses=[webhooks.status(wamid, "delivered", 1_767_000_000, "16505550001")],
    )


def test_a_webhook_past_the_bound_is_answered_503_at_once(
    ingest: Stack, services: SlowServices
) -> None:
    with futures.ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(ingest.post_webhook, delivered("wamid.first"))
        assert services.called.wait(HOLD_SECONDS)

        # Answered while the first still waits for the services.
        shed = ingest.post_webhook(delivered("wamid.second"))
        first_waits = not waiting.done()

        services.released.set()
        first = waiting.result()

    assert shed.status_code == 503
    assert "error" in shed.json()
    assert shed.headers["retry-after"] == "1"
    assert first_waits
    assert first.status_code == 200


def test_a_webhook_is_taken_again_once_the_backlog_drains(
    ingest: Stack, services: SlowServices
) -> None:
    with futures.ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(ingest.post_webhook, delivered("wamid.first"))
        assert services.called.wait(HOLD_SECONDS)
        shed = ingest.post_webhook(delivered("wamid.second"))
        services.released.set()
        waiting.result()

    retried = ingest.post_webhook(delivered("wamid.second"))

    assert [shed.status_code, retried.status_code] == [503, 200]


def start_slow_post(stack: Stack, sent: int = 1, length: int = 1000) -> socket.socket:
    """A POST whose headers are sent, and `sent` bytes of its body of `length`."""
    conn = socket.create_connection(("127.0.0.1", stack.ports["ingest_http"]))
    conn.sendall(
        b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: ingest\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n"
        b"X-Hub-Signature-256: sha256=%s\r\n\r\n%s" % (length, b"0" * 64, b" " * sent)
    )
    return conn


def answer_of(conn: socket.socket) -> tuple[http.client.HTTPResponse, bytes]:
    conn.settimeout(BODY_TIMEOUT_SECONDS + 20)
    answer = http.client.HTTPResponse(conn)
    answer.begin()
    return answer, answer.read()


def closed(answer: http.client.HTTPResponse, conn: socket.socket) -> bool:
    """The answer on conn said the connection closes, and it did."""
    if answer.getheader("connection") != "close":
        return False
    conn.settimeout(20)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_body_still_arriving_holds_no_place_in_flight(
    ingest: Stack, services: SlowServices
) -> None:
    services.released.set()
    with start_slow_post(ingest):
        # Sent once ingest holds the slow one's headers.
        answer = ingest.post_webhook(delivered("wamid.while-slow"))

    assert answer.status_code == 200


def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_its_connection_closed(
    ingest: Stack,
) -> None:
    with start_slow_post(ingest) as conn:
        answer, body = answer_of(conn)

        assert answer.status == 408
        assert b"did not arrive within 2 s" in body
        assert closed(answer, conn)


def refused_once_held(
    stack: Stack, held: socket.socket, length: int
) -> tuple[socket.socket, http.client.HTTPResponse]:
    """A POST of a whole unsigned body of length, posted again until held is
    answered or the POST is answered otherwise than 401; its connection
    and answer.

    Until ingest holds what held sent, the body is read whole and refused
    for its signature.
    """
    deadline = time.monotonic() + 20
    while True:
        conn = start_slow_post(stack, sent=length, length=length)
        answer, _ = answer_of(conn)
        held_answered = select.select([held], [], [], 0.2)[0]
        if answer.status != 401 or held_answered or time.monotonic() > deadline:
            return conn, answer
        conn.close()


def test_the_largest_body_still_arriving_gives_way_to_a_smaller_one(
    small_buffer: Stack, services: SlowServices
) -> None:
    services.released.set()
    # 800 KB of a 1 MiB buffer, then nothing more.
    with start_slow_post(small_buffer, sent=800_000, length=900_000) as large:
        smaller, answer = refused_once_held(small_buffer, large, 300_000)
        smaller.close()
        assert answer.status == 401
        answer, body = answer_of(large)

        assert answer.status == 503
        assert answer.getheader("retry-after") == "1"
        assert b"too many webhooks" in body
        assert closed(answer, large)


def test_a_body_larger_than_every_other_arriving_is_answered_503_and_closed(
    small_buffer: Stack, services: SlowServices
) -> None:
    services.released.set()
    # 400 KB of a 1 MiB buffer, then nothing more.
    with start_slow_post(small_buffer, sent=400_000, length=500_000) as held:
        larger, answer = refused_once_held(small_buffer, held, 1_000_000)
        with larger:
            assert answer.status == 503
            assert closed(answer, larger)
        # The smaller body held is not the one to give way.
        assert not select.select([held], [], [], 0.5)[0]
        # A webhook that fits in what is left is taken.
        taken = small_buffer.post_webhook(delivered("wamid.beside-a-large-one"))
        assert taken.status_code == 200
