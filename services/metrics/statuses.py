"""What became of one recipient's message: the monotone status rules.

A recipient's state is a fold of everything known about its message:
the send call, Meta's statuses, replies and opt-outs. Every step keeps
the highest status and the earliest time of each kind, so the fold gives
the same state whatever order the facts arrive in, and a fact seen twice
changes nothing. A retry is the one step back: the next attempt at the
message starts a fresh state (see start_attempt), and the fold goes on
from there.

Counters are counts of recipients per Bucket; the public counters are
sums of buckets (Tally).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum, StrEnum


class Status(IntEnum):
    """A recipient's status; the value is its rank (as in the proto)."""

    PENDING = 1
    SENT = 2
    FAILED = 3
    DELIVERED = 4
    READ = 5


# Meta's status values that rank; any other value is kept in the
# timeline only.
META_STATUSES = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.READ,
    "played": Status.READ,
    "failed": Status.FAILED,
}


class Bucket(StrEnum):
    """The counter a recipient is counted in, by its current state."""

    PENDING = "pending"
    SENT = "sent"
    FAILED_ACCEPTED = "failed_accepted"
    FAILED_REJECTED = "failed_rejected"
    DELIVERED = "delivered"
    READ = "read"


# Counted beside the buckets: a recipient is in at most one bucket, and
# may also have replied or opted out.
REPLIED = "replied"
OPTED_OUT = "opted_out"
COUNTER_FIELDS = (*(bucket.value for bucket in Bucket), REPLIED, OPTED_OUT)


@dataclass(frozen=True, slots=True)
class Failure:
    code: int
    title: str
    category: str


@dataclass(frozen=True, slots=True)
class RecipientState:
    """Everything the fold knows about one recipient's message."""

    status: Status = Status.PENDING
    # The send the state is about: 1, then one more for each retry.
    attempt: int = 1
    wamid: str | None = None
    called_at: datetime | None = None
    meta_sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None
    failure: Failure | None = None
    replied_at: datetime | None = None
    opted_out_at: datetime | None = None

    @property
    def sent_at(self) -> datetime | None:
        """Meta's time for `sent` once it came; the send call's before."""
        return self.meta_sent_at or self.called_at

    @property
    def bucket(self) -> Bucket:
        if self.status is Status.FAILED:
            if self.wamid:
                return Bucket.FAILED_ACCEPTED
            return Bucket.FAILED_REJECTED
        return _BUCKETS[self.status]


_BUCKETS = {
    Status.PENDING: Bucket.PENDING,
    Status.SENT: Bucket.SENT,
    Status.DELIVERED: Bucket.DELIVERED,
    Status.READ: Bucket.READ,
}


def _earliest(known: datetime | None, new: datetime) -> datetime:
    return new if known is None or new < known else known


def _with_failure(
    state: RecipientState, at: datetime, failure: Failure
) -> RecipientState:
    # The earliest failure wins; on a tie the lower code, so that the
    # choice never depends on arrival order.
    current = state.failure
    if (
        current is None
        or state.failed_at is None
        or at < state.failed_at
        or (at == state.failed_at and failure.code < current.code)
    ):
        current = failure
    return replace(
        state,
        status=max(state.status, Status.FAILED),
        failed_at=_earliest(state.failed_at, at),
        failure=current,
    )


def apply_send(
    state: RecipientState,
    at: datetime,
    wamid: str | None,
    rejection: Failure | None = None,
) -> RecipientState:
    """The send call: accepted with a wamid, or rejected with a failure."""
    state = replace(state, called_at=_earliest(state.called_at, at))
    if rejection is not None:
        return _with_failure(state, at, rejection)
    return replace(
        state,
        status=max(state.status, Status.SENT),
        wamid=state.wamid or wamid,
    )


def start_attempt(state: RecipientState) -> RecipientState:
    """A retry: a fresh message to the same recipient, not sent yet.

    Replies and opt-outs stay: they were the recipient's, whichever
    attempt they answered.
    """
    return RecipientState(
        attempt=state.attempt + 1,
        replied_at=state.replied_at,
        opted_out_at=state.opted_out_at,
    )


def apply_status(
    state: RecipientState,
    meta_status: str,
    at: datetime,
    failure: Failure | None = None,
) -> RecipientState:
    """One of Meta's statuses for the recipient's message."""
    meta_status = meta_status.lower()
    rank = META_STATUSES.get(meta_status)
    if rank is None:
        return state
    if rank is Status.FAILED:
        return _with_failure(state, at, failure or Failure(0, "", "unknown"))

    status = max(state.status, rank)
    if meta_status == "sent":
        meta_sent_at = _earliest(state.meta_sent_at, at)
        return replace(state, status=status, meta_sent_at=meta_sent_at)
    if rank is Status.DELIVERED:
        delivered_at = _earliest(state.delivered_at, at)
        return replace(state, status=status, delivered_at=delivered_at)
    return replace(state, status=status, read_at=_earliest(state.read_at, at))


def apply_reply(state: RecipientState, at: datetime) -> RecipientState:
    return replace(state, replied_at=_earliest(state.replied_at, at))


def apply_opt_out(state: RecipientState, at: datetime) -> RecipientState:
    return replace(state, opted_out_at=_earliest(state.opted_out_at, at))


def counter_deltas(old: RecipientState | None, new: RecipientState) -> dict[str, int]:
    """How the counters move when a recipient goes from old to new.

    old is None for a recipient that did not exist before.
    """
    deltas: dict[str, int] = {}

    def move(field: str, by: int) -> None:
        deltas[field] = deltas.get(field, 0) + by

    if old is None or old.bucket is not new.bucket:
        if old is not None:
            move(old.bucket, -1)
        move(new.bucket, 1)
    if (old is None or old.replied_at is None) and new.replied_at:
        move(REPLIED, 1)
    if (old is None or old.opted_out_at is None) and new.opted_out_at:
        move(OPTED_OUT, 1)
    return {field: by for field, by in deltas.items() if by}


@dataclass(frozen=True, slots=True)
class Tally:
    """A campaign's recipients counted per bucket, and the sums shown."""

    pending: int = 0
    sent_only: int = 0
    failed_accepted: int = 0
    failed_rejected: int = 0
    delivered_only: int = 0
    read: int = 0
    replied: int = 0
    opted_out: int = 0

    @classmethod
    def of(cls, counts: dict[str, int]) -> Tally:
        return cls(
            pending=counts.get(Bucket.PENDING, 0),
            sent_only=counts.get(Bucket.SENT, 0),
            failed_accepted=counts.get(Bucket.FAILED_ACCEPTED, 0),
            failed_rejected=counts.get(Bucket.FAILED_REJECTED, 0),
            delivered_only=counts.get(Bucket.DELIVERED, 0),
            read=counts.get(Bucket.READ, 0),
            replied=counts.get(REPLIED, 0),
            opted_out=counts.get(OPTED_OUT, 0),
        )

    @property
    def recipient_total(self) -> int:
        return (
            self.pending
            + self.sent_only
            + self.failed_accepted
            + self.failed_rejected
            + self.delivered_only
            + self.read
        )

    @property
    def sent(self) -> int:
        """Accepted by Meta: everything with a wamid."""
        return self.sent_only + self.failed_accepted + self.delivered_only + self.read

    @property
    def delivered(self) -> int:
        return self.delivered_only + self.read

    @property
    def failed(self) -> int:
        return self.failed_accepted + self.failed_rejected
