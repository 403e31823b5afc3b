"""Stand-ins for the metrics and contacts services, for gateway tests.

The gateway's tests are about translation: what it asks the services and
how it shows their answers. These servers answer from a few dicts over
real gRPC, record the requests, and let a test push counter changes.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.contacts.v1 import contacts_pb2_grpc
from xobito.devstack import free_port
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

# Campaign ids the fake metrics answers with a failure instead of data.
UNAVAILABLE_ID = "cmp_unavailable"
BROKEN_ID = "cmp_broken"


def at(iso: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(iso)
    return stamp


def _page(rows: list, size: int, token: str) -> tuple[list, str]:
    """Offset paging: good enough for a fake, opaque to the gateway."""
    start = int(token or 0)
    size = size or 50
    end = start + size
    return rows[start:end], (str(end) if end < len(rows) else "")


def _tokened(items: list[Any]) -> list[Any]:
    """Copies of the items, each with the token of the page after it."""
    tokened = []
    for index, item in enumerate(items):
        copy = type(item)()
        copy.CopyFrom(item)
        copy.page_token = str(index + 1)
        tokened.append(copy)
    return tokened


@dataclass
class FakeMetrics(metrics_pb2_grpc.MetricsServiceServicer):
    campaigns: dict[tuple[str, str], mpb.Campaign] = field(default_factory=dict)
    recipients: dict[str, list[mpb.RecipientRow]] = field(default_factory=dict)
    reasons: dict[str, list[mpb.FailureReason]] = field(default_factory=dict)
    sends: dict[str, list[mpb.ContactSend]] = field(default_factory=dict)
    requests: list[object] = field(default_factory=list)
    watchers: dict[str, queue.Queue[mpb.CampaignCounters]] = field(default_factory=dict)
    watching: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _campaign(
        self, workspace_id: str, campaign_id: str, context: grpc.ServicerContext
    ) -> mpb.Campaign:
        if campaign_id == UNAVAILABLE_ID:
            context.abort(grpc.StatusCode.UNAVAILABLE, "database down")
        if campaign_id == BROKEN_ID:
            context.abort(grpc.StatusCode.INTERNAL, "secret internals")
        found = self.campaigns.get((workspace_id, campaign_id))
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such campaign")
        return found

    def GetCampaign(self, request, context):
        self.requests.append(request)
        return self._campaign(request.workspace_id, request.campaign_id, context)

    def ListContactSends(self, request, context):
        self.requests.append(request)
        sends = _tokened(self.sends.get(request.phone, []))
        rows, token = _page(sends, request.page_size, request.page_token)
        return mpb.ListContactSendsResponse(sends=rows, next_page_token=token)

    def ListCampaigns(self, request, context):
        self.requests.append(request)
        mine = [
            campaign
            for (workspace, _), campaign in self.campaigns.items()
            if workspace == request.workspace_id
        ]
        rows, token = _page(mine, request.page_size, request.page_token)
        return mpb.ListCampaignsResponse(
            campaigns=rows, next_page_token=token, total_count=len(mine)
        )

    def ListRecipients(self, request, context):
        self.requests.append(request)
        self._campaign(request.workspace_id, request.campaign_id, context)
        everyone = self.recipients.get(request.campaign_id, [])
        rows, token = _page(everyone, request.page_size, request.page_token)
        return mpb.ListRecipientsResponse(
            recipients=rows, next_page_token=token, total_count=len(everyone)
        )

    def ListFailureReasons(self, request, context):
        self.requests.append(request)
        self._campaign(request.workspace_id, request.campaign_id, context)
        return mpb.ListFailureReasonsResponse(
            reasons=self.reasons.get(request.campaign_id, [])
        )

    def WatchCounters(self, request, context):
        campaign = self._campaign(request.workspace_id, request.campaign_id, context)
        changes: queue.Queue[mpb.CampaignCounters] = queue.Queue()
        with self.lock:
            self.watchers[request.campaign_id] = changes
            self.watching[request.campaign_id] += 1
        try:
            yield counters_of(campaign)
            while context.is_active():
                try:
                    yield changes.get(timeout=0.05)
                except queue.Empty:
                    continue
        finally:
            with self.lock:
                self.watching[request.campaign_id] -= 1

    def add_campaign(
        self, campaign_id: str, *, workspace: str = "gw-one", **fields: Any
    ) -> mpb.Campaign:
        campaign = mpb.Campaign(
            id=campaign_id,
            workspace_id=workspace,
            name="Spring sale",
            phone_number_id="100000000000001",
            template_name="spring_sale_2026",
            status=mpb.CAMPAIGN_STATUS_SENDING,
            created_at=at("2026-03-02T09:00:00Z"),
            **fields,
        )
        self.campaigns[(workspace, campaign_id)] = campaign
        return campaign

    def push(self, campaign_id: str, counters: mpb.CampaignCounters) -> None:
        self.watchers[campaign_id].put(counters)


def counters_of(campaign: mpb.Campaign) -> mpb.CampaignCounters:
    return mpb.CampaignCounters(
        campaign_id=campaign.id,
        recipient_total=campaign.recipient_total,
        status=campaign.status,
        counters=campaign.counters,
    )


@dataclass
class FakeContacts(contacts_pb2_grpc.ContactsServiceServicer):
    contacts: dict[tuple[str, str], cpb.Contact] = field(default_factory=dict)
    history: dict[str, list[cpb.HistoryItem]] = field(default_factory=dict)
    requests: list[object] = field(default_factory=list)

    def GetContact(self, request, context):
        self.requests.append(request)
        found = self.contacts.get((request.workspace_id, request.phone))
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such contact")
        return found

    def ListHistory(self, request, context):
        self.requests.append(request)
        items = _tokened(self.history.get(request.phone, []))
        rows, token = _page(items, request.page_size, request.page_token)
        return cpb.ListHistoryResponse(items=rows, next_page_token=token)


@dataclass
class FakeServices:
    metrics: FakeMetrics
    contacts: FakeContacts
    metrics_target: str
    contacts_target: str


@dataclass
class _Served:
    server: grpc.Server
    target: str


def _serve(add: object, servicer: object) -> _Served:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    add(servicer, server)
    target = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(target)
    server.start()
    return _Served(server, target)


def running_fakes() -> Iterator[FakeServices]:
    metrics, contacts = FakeMetrics(), FakeContacts()
    served_metrics = _serve(
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server, metrics
    )
    served_contacts = _serve(
        contacts_pb2_grpc.add_ContactsServiceServicer_to_server, contacts
    )
    try:
        yield FakeServices(
            metrics, contacts, served_metrics.target, served_contacts.target
        )
    finally:
        served_metrics.server.stop(0)
        served_contacts.server.stop(0)
