"""Talking to the metrics service in tests, in the domain's words."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import grpc
import psycopg
from google.protobuf.timestamp_pb2 import Timestamp

from services.metrics.counters import Counters
from services.metrics.ledger import Pool
from tests.stack import Servers
from xobito import cache
from xobito.database import open_pool
from xobito.ingest.v1 import events_pb2 as ev
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

T = TypeVar("T")

WORKSPACE = "ws-test"
NUMBER = "100000000000001"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus seconds: the clock of every test."""
    return T0 + timedelta(seconds=seconds)


def stamp(when: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(when)
    return result


def status(
    wamid: str,
    value: str,
    seconds: float,
    *,
    code: int = 0,
    title: str = "",
    workspace: str = WORKSPACE,
) -> ev.StatusEvent:
    event = ev.StatusEvent(
        phone_number_id=NUMBER,
        workspace_id=workspace,
        wamid=wamid,
        status=value,
        occurred_at=stamp(at(seconds)),
    )
    if code:
        event.error.code = code
        event.error.title = title
    return event


def message(
    wamid: str,
    phone: str,
    seconds: float,
    *,
    context: str = "",
    opt_out: bool = False,
    kind: str = "text",
    workspace: str = WORKSPACE,
) -> ev.InboundMessage:
    event = ev.InboundMessage(
        phone_number_id=NUMBER,
        workspace_id=workspace,
        wamid=wamid,
        occurred_at=stamp(at(seconds)),
        type=kind,
        context_wamid=context,
        opt_out=opt_out,
    )
    event.sender = phone
    return event


class Metrics:
    """A MetricsService client with short calls for the test cases."""

    def __init__(self, channel: grpc.Channel, servers: Servers) -> None:
        self.stub = MetricsServiceStub(channel)
        self.servers = servers

    def create(
        self,
        campaign_id: str = "",
        *,
        workspace: str = WORKSPACE,
        number: str = NUMBER,
        waba: str = "",
        name: str = "Spring sale",
    ) -> pb.Campaign:
        return self.stub.CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=workspace,
                name=name,
                phone_number_id=number,
                template_name="spring_sale_2026",
                waba_id=waba,
                campaign_id=campaign_id,
            )
        )

    def add(
        self, campaign_id: str, *recipients: str | tuple[str, str]
    ) -> pb.AddRecipientsResponse:
        return self.stub.AddRecipients(
            pb.AddRecipientsRequest(
                campaign_id=campaign_id,
                recipients=[
                    pb.Recipient(phone=r, name="")
                    if isinstance(r, str)
                    else pb.Recipient(phone=r[0], name=r[1])
                    for r in recipients
                ],
            )
        )

    def send(
        self, campaign_id: str, *sends: tuple[str, str, float]
    ) -> pb.RecordSendsResponse:
        """Record accepted sends, each (phone, wamid, seconds after T0)."""
        return self.stub.RecordSends(
            pb.RecordSendsRequest(
                campaign_id=campaign_id,
                sends=[
                    pb.Send(phone=phone, wamid=wamid, sent_at=stamp(at(seconds)))
                    for phone, wamid, seconds in sends
                ],
            )
        )

    def reject(
        self, campaign_id: str, phone: str, code: int, seconds: float = 0
    ) -> pb.RecordSendsResponse:
        return self.stub.RecordSends(
            pb.RecordSendsRequest(
                campaign_id=campaign_id,
                sends=[
                    pb.Send(
                        phone=phone,
                        sent_at=stamp(at(seconds)),
                        error_code=code,
                        error_title="Meta said no",
                    )
                ],
            )
        )

    def record(
        self,
        *statuses: ev.StatusEvent,
        messages: Iterable[ev.InboundMessage] = (),
        preferences: Iterable[ev.UserPreference] = (),
        **changes: Any,
    ) -> pb.RecordEventsResponse:
        batch = ev.EventBatch(
            statuses=statuses,
            messages=messages,
            user_preferences=preferences,
            **changes,
        )
        return self.stub.RecordEvents(pb.RecordEventsRequest(batch=batch))

    def campaign(self, campaign_id: str, workspace: str = WORKSPACE) -> pb.Campaign:
        return self.stub.GetCampaign(
            pb.GetCampaignRequest(workspace_id=workspace, campaign_id=campaign_id)
        )

    def rows(
        self, campaign_id: str, workspace: str = WORKSPACE, **query: Any
    ) -> list[pb.RecipientRow]:
        """Every recipient the query matches, page after page."""
        found: list[pb.RecipientRow] = []
        token = ""
        while True:
            page = self.stub.ListRecipients(
                pb.ListRecipientsRequest(
                    workspace_id=workspace,
                    campaign_id=campaign_id,
                    page_token=token,
                    **query,
                )
            )
            found += page.recipients
            token = page.next_page_token
            if not token:
                return found

    def row(self, campaign_id: str, phone: str) -> pb.RecipientRow:
        matches = [r for r in self.rows(campaign_id) if r.phone == phone]
        assert len(matches) == 1, matches
        return matches[0]

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.servers.postgres.url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def with_counters(self, work: Callable[[Counters, Pool], Awaitable[T]]) -> T:
        """Run work against the stores with a Counters of its own."""

        async def main() -> T:
            pool = cast(
                Pool,
                await open_pool(self.servers.postgres.url, min_size=1, max_size=2),
            )
            client = cache.connect(self.servers.valkey.url)
            try:
                return await work(Counters(pool, client), pool)
            finally:
                await client.aclose()
                await pool.close()

        return asyncio.run(main())
