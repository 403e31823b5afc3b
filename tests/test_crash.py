"""The metrics service killed mid-campaign loses and doubles nothing.

Meta posts a campaign's webhooks while the metrics service is killed
(SIGKILL) and started again, twice. Meta retries whatever was not
answered 200, as it does for days in production; when the stream is
over, the counters equal the campaign's ground truth and every
recipient's row is right, without any reconcile run.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import httpx
import pytest
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential_jitter,
)

from tests.counting import shown
from tests.stack import APP_SECRET, Servers, Stack
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub
from xobito.simulate import (
    PHONE_NUMBER_ID,
    WABA_ID,
    Plan,
    chunk_bodies,
    make_recipients,
    plan_campaign,
)
from xobito.webhooks import sign

WORKSPACE = "test"
RECIPIENTS = 300
RANK = {
    "sent": pb.RECIPIENT_STATUS_SENT,
    "failed": pb.RECIPIENT_STATUS_FAILED,
    "delivered": pb.RECIPIENT_STATUS_DELIVERED,
    "read": pb.RECIPIENT_STATUS_READ,
}


class NotTakenError(Exception):
    """Meta posts a webhook again until it is answered 200."""


class Meta:
    """Posts webhooks from worker threads, retrying as Meta does."""

    def __init__(self, stack: Stack, workers: int = 4) -> None:
        self._url = f"{stack.ingest_url}/webhooks/whatsapp"
        self._client = httpx.Client(timeout=30)
        self._pool = ThreadPoolExecutor(workers)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._futures: list[Future[None]] = []
        self.taken = 0
        self.refused = 0

    def start(self, bodies: list[bytes]) -> None:
        """Start posting the bodies; return at once."""
        self._futures = [self._pool.submit(self._deliver, body) for body in bodies]

    def have_taken(self, count: int) -> bool:
        """True once count bodies were answered 200; raises what failed."""
        for future in self._futures:
            if future.done() and future.exception():
                raise future.exception()  # type: ignore[misc]
        return self.taken >= count

    def finish(self) -> None:
        """Wait until every body was answered 200."""
        for future in self._futures:
            future.result(timeout=60)

    def __enter__(self) -> Meta:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A failed test leaves no thread retrying behind it.
        self._stopped.set()
        self._pool.shutdown(cancel_futures=True)
        self._client.close()

    def _deliver(self, body: bytes) -> None:
        for attempt in Retrying(
            retry=retry_if_exception_type((NotTakenError, httpx.TransportError)),
            wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
            stop=stop_after_delay(45) | stop_when_event_set(self._stopped),
            reraise=True,
        ):
            with attempt:
                reply = self._client.post(
                    self._url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": sign(body, APP_SECRET),
                    },
                )
                if reply.status_code != 200:
                    with self._lock:
                        self.refused += 1
                    raise NotTakenError(reply.status_code)
        with self._lock:
            self.taken += 1


def eventually(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.02)


@dataclass(frozen=True)
class Row:
    """What a recipient's row must say; times in epoch seconds, 0: none."""

    wamid: str
    status: int
    delivered_at: int = 0
    read_at: int = 0
    replied: bool = False


def row_of(row: pb.RecipientRow) -> Row:
    return Row(
        row.wamid,
        row.status,
        row.delivered_at.seconds,
        row.read_at.seconds,
        row.HasField("replied_at"),
    )


def expected_rows(plan: Plan) -> dict[str, Row]:
    """Each recipient's row as the plan's sends and webhooks make it."""
    rows = {
        send.phone: Row("", pb.RECIPIENT_STATUS_FAILED)
        if send.error_code
        else Row(send.wamid, pb.RECIPIENT_STATUS_SENT)
        for send in plan.sends
    }
    phone_of = {row.wamid: phone for phone, row in rows.items() if row.wamid}
    for event in sorted(plan.statuses, key=lambda event: int(event["timestamp"])):
        phone, at = phone_of[event["id"]], int(event["timestamp"])
        row = replace(
            rows[phone], status=max(rows[phone].status, RANK[event["status"]])
        )
        if event["status"] == "delivered" and not row.delivered_at:
            row = replace(row, delivered_at=at)
        if event["status"] == "read" and not row.read_at:
            row = replace(row, read_at=at)
        rows[phone] = row
    # Every planned message comes within the reply window.
    for message in plan.messages:
        rows[message["from"]] = replace(rows[message["from"]], replied=True)
    return rows


def truth_of(plan: Plan) -> dict[str, int]:
    """The counters the plan's fates add up to, as tests.counting names them."""
    names = {"opted_out": "optedOut"}
    fields = ("sent", "delivered", "read", "failed", "replied", "opted_out")
    counters = {field: plan.truth[names.get(field, field)] for field in fields}
    return {"recipients": len(plan.recipients), **counters}


@pytest.fixture(scope="module")
def crash_stack(servers: Servers) -> Iterator[Stack]:
    """Metrics, contacts and ingest of their own: this module kills them."""
    stack = Stack(servers)
    try:
        stack.start("metrics", "contacts", "ingest")
        yield stack
    finally:
        stack.stop()


def start_campaign(stack: Stack, plan: Plan) -> str:
    """Register the campaign, its recipients and sends, as the sender does."""
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Crash test",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            pb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[
                    pb.Recipient(phone=phone, name=name)
                    for phone, name in plan.recipients
                ],
            ),
            timeout=10,
        )
        metrics.RecordSends(
            pb.RecordSendsRequest(campaign_id=campaign.id, sends=plan.sends),
            timeout=10,
        )
    return str(campaign.id)


def read_back(
    stack: Stack, campaign_id: str
) -> tuple[pb.Campaign, list[pb.RecipientRow]]:
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        campaign = metrics.GetCampaign(
            pb.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
            timeout=10,
        )
        rows = metrics.ListRecipients(
            pb.ListRecipientsRequest(
                workspace_id=WORKSPACE, campaign_id=campaign_id, page_size=500
            ),
            timeout=10,
        ).recipients
    return campaign, list(rows)


def crash_metrics(stack: Stack, meta: Meta) -> None:
    """SIGKILL, as a crash or an OOM kill would, then start it again once
    Meta was refused while it was down (gRPC's retries of a call could
    otherwise outlast a quick restart, and nothing would meet it down)."""
    refused = meta.refused
    stack.kill("metrics")
    eventually(lambda: meta.refused > refused, "a webhook refused while down")
    stack.start_service("metrics")


@pytest.mark.usefixtures("clean")
def test_counters_survive_metrics_killed_twice_mid_stream(
    crash_stack: Stack,
) -> None:
    rng = random.Random(11)
    plan = plan_campaign(make_recipients(RECIPIENTS, rng), rng)
    bodies = chunk_bodies(plan, rng)
    campaign_id = start_campaign(crash_stack, plan)

    with Meta(crash_stack) as meta:
        meta.start(bodies)
        for third in (len(bodies) // 3, len(bodies) * 2 // 3):
            eventually(partial(meta.have_taken, third), f"{third} webhooks taken")
            crash_metrics(crash_stack, meta)
        meta.finish()

    truth = truth_of(plan)
    # The last changes may wait in the outbox for the relay.
    eventually(
        lambda: shown(read_back(crash_stack, campaign_id)[0]) == truth,
        f"counters equal to {truth}",
    )
    _, rows = read_back(crash_stack, campaign_id)
    assert {row.phone: row_of(row) for row in rows} == expected_rows(plan)
