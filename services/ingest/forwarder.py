"""The hand-off of routed events to metrics and contacts over gRPC.

One channel to each service (xobito.channels), opened at start and
reused. A webhook becomes at most one RecordEvents call to each, sent
together, each with its own deadline. Both services are idempotent, so
a webhook Meta delivers again after a failure never counts twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from services.ingest.keywords import Keywords
from services.ingest.routing import Routes
from xobito.channels import ChannelSettings, open_channel
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.ingest.v1 import events_pb2
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from xobito.settings import Settings

# Answers that will be the same however often the batch is sent again.
# Anything else (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ...) may pass.
_DEFINITE = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)

OK = "ok"
SKIPPED = "skipped"
REJECTED = "rejected"
UNAVAILABLE = "unavailable"


class DownstreamError(Exception):
    """A service ingest depends on did not answer; try again later."""


@dataclass(frozen=True)
class CallResult:
    """What became of one RecordEvents call."""

    service: str
    outcome: str  # OK, SKIPPED, REJECTED or UNAVAILABLE
    code: str = ""
    details: str = ""
    batch: events_pb2.EventBatch | None = None


def metrics_part(batch: events_pb2.EventBatch) -> events_pb2.EventBatch | None:
    """What metrics takes of batch: every kind of event."""
    return batch if batch.ListFields() else None


def contacts_part(
    batch: events_pb2.EventBatch,
) -> events_pb2.EventBatch | None:
    """What contacts takes of batch: messages, preferences, statuses."""
    if not (batch.messages or batch.user_preferences or batch.statuses):
        return None
    if not (
        batch.template_updates
        or batch.quality_updates
        or batch.account_updates
        or batch.errors
    ):
        return batch
    return events_pb2.EventBatch(
        statuses=batch.statuses,
        messages=batch.messages,
        user_preferences=batch.user_preferences,
    )


class Forwarder:
    """gRPC client of metrics and contacts for the webhook endpoint."""

    def __init__(
        self,
        metrics: grpc.aio.Channel,
        contacts: grpc.aio.Channel,
        timeout_s: float,
    ) -> None:
        self._channels = (metrics, contacts)
        self._metrics = metrics_pb2_grpc.MetricsServiceStub(metrics)
        self._contacts = contacts_pb2_grpc.ContactsServiceStub(contacts)
        self._timeout_s = timeout_s

    @classmethod
    def connect(cls, settings: Settings) -> Forwarder:
        """Channels to the targets of settings; they connect on first use."""
        config = ChannelSettings.of(settings)
        return cls(
            open_channel(settings.metrics_target, config),
            open_channel(settings.contacts_target, config),
            settings.grpc_timeout_s,
        )

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(grace=None)

    async def resolve_routes(
        self, phone_number_ids: Sequence[str], waba_ids: Sequence[str]
    ) -> Routes:
        """Ask metrics which workspace owns each key; raise DownstreamError."""
        request = metrics_pb2.ResolveRoutesRequest(
            phone_number_ids=phone_number_ids, waba_ids=waba_ids
        )
        try:
            reply = await self._metrics.ResolveRoutes(
                request,
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            raise DownstreamError(f"metrics: {exc.code().name}") from exc
        return Routes(
            phone_numbers={r.key: r.workspace_id for r in reply.phone_numbers},
            wabas={r.key: r.workspace_id for r in reply.wabas},
        )

    async def get_keywords(self, workspace_id: str) -> Keywords:
        """Ask contacts for a workspace's own keywords; raise DownstreamError."""
        request = contacts_pb2.GetKeywordsRequest(workspace_id=workspace_id)
        try:
            reply = await self._contacts.GetKeywords(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise DownstreamError(f"contacts: {exc.code().name}") from exc
        return Keywords(
            stop=frozenset(reply.keywords.stop_keywords),
            start=frozenset(reply.keywords.start_keywords),
        )

    async def hand_off(
        self, batch: events_pb2.EventBatch
    ) -> tuple[CallResult, CallResult]:
        """Record batch in metrics and contacts at once; never raises."""
        return await asyncio.gather(
            self._record_metrics(metrics_part(batch)),
            self._record_contacts(contacts_part(batch)),
        )

    async def _record_metrics(
        self,
        batch: events_pb2.EventBatch | None,
    ) -> CallResult:
        if batch is None:
            return CallResult("metrics", SKIPPED)
        request = metrics_pb2.RecordEventsRequest(batch=batch)
        try:
            await self._metrics.RecordEvents(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return _failed("metrics", exc, batch)
        return CallResult("metrics", OK)

    async def _record_contacts(
        self,
        batch: events_pb2.EventBatch | None,
    ) -> CallResult:
        if batch is None:
            return CallResult("contacts", SKIPPED)
        request = contacts_pb2.RecordEventsRequest(batch=batch)
        try:
            await self._contacts.RecordEvents(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            return _failed("contacts", exc, batch)
        return CallResult("contacts", OK)


def _failed(
    service: str, exc: grpc.aio.AioRpcError, batch: events_pb2.EventBatch
) -> CallResult:
    code = exc.code()
    outcome = REJECTED if code in _DEFINITE else UNAVAILABLE
    return CallResult(service, outcome, code.name, exc.details() or "", batch)
