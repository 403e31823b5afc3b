"""IngestService: gRPC requests translated to store calls and back."""

from __future__ import annotations

from typing import Any

import structlog

from services.ingest.erasure import IngestErasure
from services.ingest.store import IngestStore
from xobito import phones
from xobito.errors import InvalidArgumentError
from xobito.ingest.v1 import ingest_pb2, ingest_pb2_grpc

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

log = structlog.get_logger(__name__)

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, store: IngestStore, erasure: IngestErasure) -> None:
        self._store = store
        self._erasure = erasure

    async def ListUnroutableEvents(
        self,
        request: ingest_pb2.ListUnroutableEventsRequest,
        context: Any,
    ) -> ingest_pb2.ListUnroutableEventsResponse:
        if request.page_size < 0:
            raise InvalidArgumentError("page_size must not be negative")
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

        rows, total = await self._store.newest_unroutable(page_size)

        response = ingest_pb2.ListUnroutableEventsResponse(total_count=total)
        for row in rows:
            event = response.events.add(
                id=row.id, kind=row.kind, route_key=row.route_key
            )
            event.received_at.FromDatetime(row.received_at)
        return response

    async def EraseContact(
        self,
        request: ingest_pb2.EraseContactRequest,
        context: Any,
    ) -> ingest_pb2.EraseContactResponse:
        if not request.workspace_id:
            raise InvalidArgumentError("workspace_id is required")
        phone = phones.normalize(request.phone)
        if phone is None:
            raise InvalidArgumentError("phone is not a phone number")

        erased = await self._erasure.erase(request.workspace_id, phone)

        log.info("contact erased", rows=erased)
        return ingest_pb2.EraseContactResponse(rows_erased=erased)
