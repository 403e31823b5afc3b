"""Statuses that arrive before their send is recorded are not lost.

Meta may call the webhook before the campaign sender has recorded the
send that carries the wamid (RecordSends): the sender records after
Meta's answer, and Meta's first status can beat it. Such a status is
answered 200, kept, and applied the moment the send is recorded.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from tests.counting import counted, shown
from tests.stack import Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

WORKSPACE = "test"
SENT_AT = 1_772_445_600  # 2026-03-02T10:00:00Z


@dataclass
class Campaign:
    """A campaign on a number of its own, its recipients added."""

    stack: Stack
    phones: list[str]
    number: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        self.number = "1" + "".join(secrets.choice("0123456789") for _ in range(14))
        self.tag = secrets.token_hex(6)
        with self.stack.channel("metrics") as channel:
            metrics = MetricsServiceStub(channel)
            self.id = metrics.CreateCampaign(
                pb.CreateCampaignRequest(
                    workspace_id=WORKSPACE,
                    name="Early statuses",
                    phone_number_id=self.number,
                    template_name="spring_sale_2026",
                ),
                timeout=10,
            ).id
            metrics.AddRecipients(
                pb.AddRecipientsRequest(
                    campaign_id=self.id,
                    recipients=[pb.Recipient(phone=phone) for phone in self.phones],
                ),
                timeout=10,
            )

    def wamid(self, phone: str) -> str:
        return f"wamid.early-{self.tag}-{phone}"

    def post(self, phone: str, *values: str) -> int:
        """Post Meta's statuses for phone's message, one second apart."""
        body = webhooks.body(
            waba_id="",
            phone_number_id=self.number,
            display_phone_number="16505559999",
            statuses=[
                webhooks.status(
                    self.wamid(phone),
                    value,
                    SENT_AT + 1 + n,
                    phone,
                    error_code=131026 if value == "failed" else 0,
                    error_title="Message undeliverable",
                )
                for n, value in enumerate(values)
            ],
        )
        return self.stack.post_webhook(body).status_code

    def record_sends(self, *phones: str) -> pb.RecordSendsResponse:
        sends = []
        for phone in phones:
            send = pb.Send(phone=phone, wamid=self.wamid(phone))
            send.sent_at.FromSeconds(SENT_AT)
            sends.append(send)
        with self.stack.channel("metrics") as channel:
            return MetricsServiceStub(channel).RecordSends(
                pb.RecordSendsRequest(campaign_id=self.id, sends=sends), timeout=10
            )

    def read_back(self) -> tuple[dict[str, int], dict[str, int]]:
        """The counters shown, and the statuses of the rows by phone."""
        with self.stack.channel("metrics") as channel:
            metrics = MetricsServiceStub(channel)
            campaign = metrics.GetCampaign(
                pb.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id=self.id),
                timeout=10,
            )
            rows = metrics.ListRecipients(
                pb.ListRecipientsRequest(
                    workspace_id=WORKSPACE, campaign_id=self.id, page_size=500
                ),
                timeout=10,
            ).recipients
        assert shown(campaign) == counted(rows)
        return shown(campaign), {row.phone: row.status for row in rows}


PHONES = ["16505550301", "16505550302", "16505550303"]


def test_statuses_before_their_send_are_answered_200_and_wait(
    stack: Stack,
) -> None:
    campaign = Campaign(stack, PHONES)

    answers = [
        campaign.post(PHONES[0], "sent", "delivered", "read"),
        campaign.post(PHONES[1], "failed"),
    ]

    counters, statuses = campaign.read_back()
    assert answers == [200, 200]
    assert counters["sent"] == counters["delivered"] == counters["failed"] == 0
    assert set(statuses.values()) == {pb.RECIPIENT_STATUS_PENDING}


def test_statuses_before_their_send_apply_once_it_is_recorded(
    stack: Stack,
) -> None:
    campaign = Campaign(stack, PHONES)
    campaign.post(PHONES[0], "sent", "delivered", "read")
    campaign.post(PHONES[1], "failed")

    recorded = campaign.record_sends(*PHONES)

    counters, statuses = campaign.read_back()
    assert recorded.early_statuses_applied == 4
    assert statuses == {
        PHONES[0]: pb.RECIPIENT_STATUS_READ,
        PHONES[1]: pb.RECIPIENT_STATUS_FAILED,
        PHONES[2]: pb.RECIPIENT_STATUS_SENT,
    }
    assert (counters["sent"], counters["delivered"], counters["read"]) == (3, 1, 1)
    assert counters["failed"] == 1


def test_statuses_racing_their_sends_are_all_applied(stack: Stack) -> None:
    phones = [f"165055504{n:02d}" for n in range(60)]
    campaign = Campaign(stack, phones)
    work: list[Callable[[], object]] = []
    for phone in phones:
        work.append(partial(campaign.post, phone, "delivered"))
        work.append(partial(campaign.record_sends, phone))
    random.Random(5).shuffle(work)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda call: call(), work))

    counters, statuses = campaign.read_back()
    assert sorted(a for a in answers if isinstance(a, int)) == [200] * len(phones)
    assert set(statuses.values()) == {pb.RECIPIENT_STATUS_DELIVERED}
    assert (counters["sent"], counters["delivered"]) == (60, 60)
