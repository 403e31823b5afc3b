"""The gRPC clients of the metrics, contacts and ingest services.

Channels (xobito.channels) are opened once, in the app's lifespan, and
connect lazily, so the gateway starts while a service is still down.
Every unary call has the deadline settings.grpc_timeout_s, within which
it waits for a service that is not reachable yet, and every
gRPC failure leaves this module as one of the typed errors of
gateway.errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from gateway.errors import (
    BadRequestError,
    GatewayError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
)
from xobito.channels import ChannelSettings, open_channel
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.contacts.v1 import contacts_pb2_grpc
from xobito.ingest.v1 import ingest_pb2 as ipb
from xobito.ingest.v1 import ingest_pb2_grpc
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc
from xobito.settings import Settings

T = TypeVar("T")

_UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}


def translate(error: grpc.aio.AioRpcError, service: str) -> GatewayError:
    """The typed error for a failed call; no caller reads the details."""
    code = error.code()
    if code is grpc.StatusCode.NOT_FOUND:
        return NotFoundError(f"not found in {service}")
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return BadRequestError(error.details() or "invalid argument")
    if code in _UNAVAILABLE:
        return UnavailableError(f"{service} is unavailable, try again")
    return UpstreamError(f"{service} failed with {code.name}")


async def _call(service: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise translate(error, service) from None


class MetricsClient:
    """Campaigns, recipients and counters, always scoped by workspace."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        self._timeout = timeout_s

    async def get_campaign(self, workspace_id: str, campaign_id: str) -> mpb.Campaign:
        request = mpb.GetCampaignRequest(
            workspace_id=workspace_id, campaign_id=campaign_id
        )
        call = self._stub.GetCampaign(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def list_campaigns(
        self, request: mpb.ListCampaignsRequest
    ) -> mpb.ListCampaignsResponse:
        call = self._stub.ListCampaigns(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def list_recipients(
        self, request: mpb.ListRecipientsRequest
    ) -> mpb.ListRecipientsResponse:
        call = self._stub.ListRecipients(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def list_failure_reasons(
        self, workspace_id: str, campaign_id: str
    ) -> list[mpb.FailureReason]:
        request = mpb.ListFailureReasonsRequest(
            workspace_id=workspace_id, campaign_id=campaign_id
        )
        call = self._stub.ListFailureReasons(request, timeout=self._timeout)
        return list((await _call("metrics", call)).reasons)

    async def list_campaign_warnings(
        self, workspace_id: str, campaign_id: str
    ) -> list[mpb.CampaignWarning]:
        request = mpb.ListCampaignWarningsRequest(
            workspace_id=workspace_id, campaign_id=campaign_id
        )
        call = self._stub.ListCampaignWarnings(request, timeout=self._timeout)
        return list((await _call("metrics", call)).warnings)

    async def get_business_number(
        self, workspace_id: str, campaign_id: str
    ) -> mpb.BusinessNumber:
        request = mpb.GetBusinessNumberRequest(
            workspace_id=workspace_id, campaign_id=campaign_id
        )
        call = self._stub.GetBusinessNumber(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def get_campaign_cost(
        self, workspace_id: str, campaign_id: str
    ) -> mpb.CampaignCost:
        request = mpb.GetCampaignCostRequest(
            workspace_id=workspace_id, campaign_id=campaign_id
        )
        call = self._stub.GetCampaignCost(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def get_campaign_series(
        self,
        workspace_id: str,
        campaign_id: str,
        bucket: mpb.SeriesBucket.ValueType,
    ) -> list[mpb.SeriesPoint]:
        request = mpb.GetCampaignSeriesRequest(
            workspace_id=workspace_id, campaign_id=campaign_id, bucket=bucket
        )
        call = self._stub.GetCampaignSeries(request, timeout=self._timeout)
        return list((await _call("metrics", call)).points)

    async def list_unmatched_statuses(
        self, request: mpb.ListUnmatchedStatusesRequest
    ) -> mpb.ListUnmatchedStatusesResponse:
        call = self._stub.ListUnmatchedStatuses(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def list_contact_sends(
        self, request: mpb.ListContactSendsRequest
    ) -> mpb.ListContactSendsResponse:
        call = self._stub.ListContactSends(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def erase_contact(self, workspace_id: str, phone: str) -> int:
        request = mpb.EraseContactRequest(workspace_id=workspace_id, phone=phone)
        call = self._stub.EraseContact(request, timeout=self._timeout)
        return (await _call("metrics", call)).rows_erased

    async def list_retry_candidates(
        self, request: mpb.ListRetryCandidatesRequest
    ) -> mpb.ListRetryCandidatesResponse:
        call = self._stub.ListRetryCandidates(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def queue_retries(
        self, request: mpb.QueueRetriesRequest
    ) -> mpb.QueueRetriesResponse:
        call = self._stub.QueueRetries(request, timeout=self._timeout)
        return await _call("metrics", call)

    async def watch_counters(
        self, workspace_id: str, campaign_id: str
    ) -> AsyncGenerator[mpb.CampaignCounters, None]:
        """The counters now, then after every change, until closed.

        The stream has no deadline, as it lives as long as its subscriber;
        only its first message must come within the timeout. Closing the
        generator (the subscriber went away) cancels the call.
        """
        request = mpb.WatchCountersRequest(
            workspace_id=workspace_id, campaign_id=campaign_id
        )
        call = self._stub.WatchCounters(request)
        messages = aiter(call)
        try:
            first = await asyncio.wait_for(anext(messages, None), self._timeout)
            if first is None:
                return
            yield first
            async for message in messages:
                yield message
        except grpc.aio.AioRpcError as error:
            raise translate(error, "metrics") from None
        except TimeoutError:
            raise UnavailableError("metrics is unavailable, try again") from None
        finally:
            call.cancel()

    async def watch_recipients(
        self,
        workspace_id: str,
        campaign_id: str,
        status: mpb.RecipientStatus.ValueType,
    ) -> AsyncGenerator[mpb.RecipientRow, None]:
        """Each recipient row as it changes, until closed; no deadline."""
        request = mpb.WatchRecipientsRequest(
            workspace_id=workspace_id, campaign_id=campaign_id, status=status
        )
        call = self._stub.WatchRecipients(request)
        try:
            async for row in call:
                yield row
        except grpc.aio.AioRpcError as error:
            raise translate(error, "metrics") from None
        finally:
            call.cancel()


class ContactsClient:
    """Contacts and their history, always scoped by workspace."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._stub = contacts_pb2_grpc.ContactsServiceStub(channel)
        self._timeout = timeout_s

    async def get_contact(self, workspace_id: str, phone: str) -> cpb.Contact:
        request = cpb.GetContactRequest(workspace_id=workspace_id, phone=phone)
        call = self._stub.GetContact(request, timeout=self._timeout)
        return await _call("contacts", call)

    async def get_contacts(
        self, workspace_id: str, phones: list[str]
    ) -> list[cpb.Contact]:
        request = cpb.GetContactsRequest(workspace_id=workspace_id, phones=phones)
        call = self._stub.GetContacts(request, timeout=self._timeout)
        return list((await _call("contacts", call)).contacts)

    async def filter_sendable(
        self, workspace_id: str, phones: list[str]
    ) -> list[cpb.Sendability]:
        request = cpb.FilterSendableRequest(workspace_id=workspace_id, phones=phones)
        call = self._stub.FilterSendable(request, timeout=self._timeout)
        return list((await _call("contacts", call)).results)

    async def list_history(
        self, request: cpb.ListHistoryRequest
    ) -> cpb.ListHistoryResponse:
        call = self._stub.ListHistory(request, timeout=self._timeout)
        return await _call("contacts", call)

    async def set_flag(self, request: cpb.SetFlagRequest) -> cpb.Contact:
        call = self._stub.SetFlag(request, timeout=self._timeout)
        return (await _call("contacts", call)).contact

    async def clear_flag(self, request: cpb.ClearFlagRequest) -> cpb.Contact:
        call = self._stub.ClearFlag(request, timeout=self._timeout)
        return (await _call("contacts", call)).contact

    async def list_flag_history(
        self, request: cpb.ListFlagHistoryRequest
    ) -> cpb.ListFlagHistoryResponse:
        call = self._stub.ListFlagHistory(request, timeout=self._timeout)
        return await _call("contacts", call)

    async def get_keywords(self, workspace_id: str) -> cpb.Keywords:
        request = cpb.GetKeywordsRequest(workspace_id=workspace_id)
        call = self._stub.GetKeywords(request, timeout=self._timeout)
        return (await _call("contacts", call)).keywords

    async def set_keywords(self, request: cpb.SetKeywordsRequest) -> cpb.Keywords:
        call = self._stub.SetKeywords(request, timeout=self._timeout)
        return (await _call("contacts", call)).keywords

    async def erase_contact(self, workspace_id: str, phone: str) -> int:
        request = cpb.EraseContactRequest(workspace_id=workspace_id, phone=phone)
        call = self._stub.EraseContact(request, timeout=self._timeout)
        return (await _call("contacts", call)).rows_erased


class IngestClient:
    """What ingest keeps of events that reached no workspace."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float) -> None:
        self._stub = ingest_pb2_grpc.IngestServiceStub(channel)
        self._timeout = timeout_s

    async def erase_contact(self, workspace_id: str, phone: str) -> int:
        request = ipb.EraseContactRequest(workspace_id=workspace_id, phone=phone)
        call = self._stub.EraseContact(request, timeout=self._timeout)
        return (await _call("ingest", call)).rows_erased


@dataclass(frozen=True)
class Clients:
    """The clients and the channels under them."""

    metrics: MetricsClient
    contacts: ContactsClient
    ingest: IngestClient
    channels: tuple[grpc.aio.Channel, ...]

    @classmethod
    def open(cls, settings: Settings) -> Clients:
        # A service restarting (a crash, a rolling update) costs a query a
        # wait of a second or two, within its deadline, not an error.
        config = ChannelSettings.of(settings, wait_for_ready=True)
        metrics = open_channel(settings.metrics_target, config)
        contacts = open_channel(settings.contacts_target, config)
        ingest = open_channel(settings.ingest_target, config)
        timeout = settings.grpc_timeout_s
        return cls(
            metrics=MetricsClient(metrics, timeout),
            contacts=ContactsClient(contacts, timeout),
            ingest=IngestClient(ingest, timeout),
            channels=(metrics, contacts, ingest),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(None)
