"""Small campaigns for property tests, and the calls that report them.

A scenario is a few recipients' fates (accepted, rejected or never sent;
Meta's statuses; replies) and the MetricsService calls that tell them,
in an order, with repeats and in batches that Hypothesis chooses. A
Campaign plays calls against the running service, in a workspace, on a
number and with wamids of its own, so that examples never meet.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import strategies as st

from tests.counting import shown
from tests.metrics.helpers import T0, stamp
from xobito.ingest.v1 import events_pb2 as ev
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

STATUSES = ("sent", "delivered", "read", "played", "failed")
# Known to the catalogue, and one it does not know.
FAILURE_CODES = (131026, 131049, 131050, 131000, 999)
REJECTION_CODE = 131009

ACCEPTED, REJECTED, NOT_SENT = "accepted", "rejected", "not sent"


@dataclass(frozen=True)
class Reply:
    after_s: int
    quoting: bool
    opt_out: bool


@dataclass(frozen=True)
class Fate:
    """What happened to one recipient's message."""

    send: str
    # (Meta's status, seconds after T0) -> the error code of a failure.
    statuses: dict[tuple[str, int], int]
    replies: tuple[Reply, ...]


fates = st.lists(
    st.builds(
        Fate,
        send=st.sampled_from([ACCEPTED, ACCEPTED, ACCEPTED, REJECTED, NOT_SENT]),
        # Seconds apart at most, so that statuses share timestamps often.
        statuses=st.dictionaries(
            st.tuples(st.sampled_from(STATUSES), st.integers(0, 6)),
            st.sampled_from(FAILURE_CODES),
            max_size=6,
        ),
        replies=st.lists(
            st.builds(
                Reply,
                # Up to two days: inside the reply window and beyond it.
                after_s=st.integers(1, 2 * 24 * 3600),
                quoting=st.booleans(),
                opt_out=st.booleans(),
            ),
            max_size=2,
        ).map(tuple),
    ),
    min_size=1,
    max_size=4,
)


# -- one campaign's calls ------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One fact for recipient i: its send, a status, or a message."""

    kind: str
    i: int
    status: str = ""
    at_s: int = 0
    code: int = 0
    k: int = 0


def facts(people: Sequence[Fate]) -> list[Op]:
    ops = []
    for i, fate in enumerate(people):
        if fate.send != NOT_SENT:
            ops.append(Op("send", i))
        for (value, at_s), code in sorted(fate.statuses.items()):
            ops.append(Op("status", i, value, at_s, code if value == "failed" else 0))
        ops += [Op("message", i, k=k) for k in range(len(fate.replies))]
    return ops


def sends_before_messages(order: Sequence[Op]) -> list[Op]:
    """order with each send moved ahead of its recipient's first message.

    A message is attributed to the sends recorded when it arrives; the
    sender records a send before Meta can even deliver the message.
    Statuses, unlike messages, may come first: they wait for the send.
    """
    unsent = {op.i for op in order if op.kind == "send"}
    moved: Counter[int] = Counter()
    result = []
    for op in order:
        if op.kind == "send":
            if moved[op.i]:
                moved[op.i] -= 1
                continue
            unsent.discard(op.i)
        elif op.kind == "message" and op.i in unsent:
            result.append(Op("send", op.i))
            unsent.discard(op.i)
            moved[op.i] += 1
        result.append(op)
    return result


Call = tuple[str, list[Op]]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Fate], list[Call]]:
    """Fates, and the calls that report them shuffled, repeated, batched."""
    people = draw(fates)
    ops = facts(people)
    if not ops:
        return people, []
    repeats = draw(st.lists(st.sampled_from(ops), max_size=len(ops)))
    order = sends_before_messages(draw(st.permutations(ops + repeats)))
    cuts = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))

    calls: list[Call] = []
    for op, cut in zip(order, cuts, strict=True):
        kind = "sends" if op.kind == "send" else "events"
        if cut or not calls or calls[-1][0] != kind:
            calls.append((kind, []))
        calls[-1][1].append(op)
    return people, calls


def plainly(people: Sequence[Fate]) -> list[Call]:
    """Every send, then every event once, in one batch."""
    ops = facts(people)
    sends = [op for op in ops if op.kind == "send"]
    events = [op for op in ops if op.kind != "send"]
    return [("sends", sends), ("events", events)]


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def phone(i: int) -> str:
    return f"1650555{i:04d}"


@dataclass
class Campaign:
    """A campaign of its own workspace, number and wamids."""

    stub: MetricsServiceStub
    people: Sequence[Fate]
    tag: str = field(default_factory=lambda: secrets.token_hex(6))
    id: str = ""

    @property
    def workspace(self) -> str:
        # Replies go to the workspace's latest send to the phone: one
        # workspace per campaign keeps examples apart.
        return f"prop-{self.tag}"

    def wamid(self, i: int) -> str:
        return f"wamid.{self.tag}.{i}"

    def create(self) -> None:
        self.id = self.stub.CreateCampaign(
            pb.CreateCampaignRequest(
                workspace_id=self.workspace,
                name="property",
                phone_number_id=f"number-{self.tag}",
                template_name="spring_sale_2026",
            ),
            timeout=10,
        ).id
        self.stub.AddRecipients(
            pb.AddRecipientsRequest(
                campaign_id=self.id,
                recipients=[
                    pb.Recipient(phone=phone(i)) for i in range(len(self.people))
                ],
            ),
            timeout=10,
        )

    def play(self, calls: Sequence[Call]) -> None:
        for kind, ops in calls:
            if kind == "sends":
                self.stub.RecordSends(
                    pb.RecordSendsRequest(
                        campaign_id=self.id, sends=[self._send(op) for op in ops]
                    ),
                    timeout=10,
                )
            else:
                batch = ev.EventBatch(
                    statuses=[self._status(op) for op in ops if op.kind == "status"],
                    messages=[self._message(op) for op in ops if op.kind == "message"],
                )
                self.stub.RecordEvents(pb.RecordEventsRequest(batch=batch), timeout=10)

    def _send(self, op: Op) -> pb.Send:
        if self.people[op.i].send == REJECTED:
            return pb.Send(
                phone=phone(op.i),
                sent_at=stamp(T0),
                error_code=REJECTION_CODE,
                error_title="Invalid phone number",
            )
        return pb.Send(phone=phone(op.i), wamid=self.wamid(op.i), sent_at=stamp(T0))

    def _status(self, op: Op) -> ev.StatusEvent:
        event = ev.StatusEvent(
            phone_number_id=f"number-{self.tag}",
            workspace_id=self.workspace,
            wamid=self.wamid(op.i),
            status=op.status,
            occurred_at=stamp(at(op.at_s)),
        )
        if op.code:
            event.error.code = op.code
            event.error.title = f"Meta's title for {op.code}"
        return event

    def _message(self, op: Op) -> ev.InboundMessage:
        reply = self.people[op.i].replies[op.k]
        message = ev.InboundMessage(
            phone_number_id=f"number-{self.tag}",
            workspace_id=self.workspace,
            wamid=f"wamid.{self.tag}.in.{op.i}.{op.k}",
            occurred_at=stamp(at(reply.after_s)),
            type="text",
            context_wamid=self.wamid(op.i) if reply.quoting else "",
            opt_out=reply.opt_out,
        )
        message.sender = phone(op.i)
        return message

    def rows(self) -> list[pb.RecipientRow]:
        found: list[pb.RecipientRow] = []
        token = ""
        while True:
            page = self.stub.ListRecipients(
                pb.ListRecipientsRequest(
                    workspace_id=self.workspace,
                    campaign_id=self.id,
                    page_token=token,
                ),
                timeout=10,
            )
            found += page.recipients
            token = page.next_page_token
            if not token:
                return found

    def shown(self) -> dict[str, int]:
        return shown(
            self.stub.GetCampaign(
                pb.GetCampaignRequest(workspace_id=self.workspace, campaign_id=self.id),
                timeout=10,
            )
        )
