from __future__ import annotations

from collections.abc import Iterator

import grpc
import psycopg
import pytest

from services.ingest.servicer import IngestServicer
from tests.stack import Stack
from xobito.ingest.v1 import ingest_pb2, ingest_pb2_grpc

Stub = ingest_pb2_grpc.IngestServiceStub


@pytest.fixture
def ingest_service(stack: Stack) -> Iterator[Stub]:
    target = f"127.0.0.1:{stack.ports['ingest_grpc']}"
    with grpc.insecure_channel(target) as channel:
        yield ingest_pb2_grpc.IngestServiceStub(channel)


def test_every_rpc_of_the_ingest_service_is_implemented() -> None:
    service = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"]

    implemented = vars(IngestServicer)
    missing = [m.name for m in service.methods if m.name not in implemented]

    assert missing == []


def test_a_negative_page_size_is_an_invalid_argument(
    ingest_service: Stub,
) -> None:
    request = ingest_pb2.ListUnroutableEventsRequest(page_size=-1)

    with pytest.raises(grpc.RpcError) as raised:
        ingest_service.ListUnroutableEvents(request, timeout=10)

    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_page_holds_at_most_500_events(
    stack: Stack,
    ingest_service: Stub,
) -> None:
    with psycopg.connect(stack.servers.postgres.url) as conn:
        conn.execute(
            "INSERT INTO ingest.unroutable_events"
            " (kind, route_key, received_at, payload, dedupe_key)"
            " SELECT 'status', 'page-test', now(), '{}',"
            "  sha256(convert_to('page-test' || n, 'UTF8'))"
            " FROM generate_series(1, 501) AS n"
            " ON CONFLICT DO NOTHING"
        )
    request = ingest_pb2.ListUnroutableEventsRequest(page_size=100_000)

    listed = ingest_service.ListUnroutableEvents(request, timeout=10)

    assert len(listed.events) == 500
    assert listed.total_count >= 501
