"""The monotone rules: the same facts give the same row, in any order."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial, reduce

from services.metrics.statuses import (
    Bucket,
    Failure,
    RecipientState,
    Status,
    Tally,
    apply_opt_out,
    apply_reply,
    apply_send,
    apply_status,
    counter_deltas,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
Step = Callable[[RecipientState], RecipientState]


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fold(steps: Sequence[Step]) -> RecipientState:
    return reduce(lambda state, step: step(state), steps, RecipientState())


SEND = partial(apply_send, at=at(0), wamid="wamid.A")
SENT = partial(apply_status, meta_status="sent", at=at(2))
DELIVERED = partial(apply_status, meta_status="delivered", at=at(5))
READ = partial(apply_status, meta_status="read", at=at(9))
FAILED = partial(
    apply_status,
    meta_status="failed",
    at=at(7),
    failure=Failure(131026, "Undeliverable", "not_on_whatsapp"),
)
DELIVERED_AGAIN = partial(apply_status, meta_status="delivered", at=at(6))
UNKNOWN = partial(apply_status, meta_status="deleted", at=at(8))
REPLY = partial(apply_reply, at=at(60))


def test_every_order_of_the_same_facts_gives_the_same_state() -> None:
    steps = [SEND, SENT, DELIVERED, READ, FAILED, DELIVERED_AGAIN, UNKNOWN]

    states = {fold(order) for order in itertools.permutations(steps)}

    assert states == {
        RecipientState(
            status=Status.READ,
            wamid="wamid.A",
            called_at=at(0),
            meta_sent_at=at(2),
            delivered_at=at(5),
            read_at=at(9),
            failed_at=at(7),
            failure=Failure(131026, "Undeliverable", "not_on_whatsapp"),
        )
    }


def test_a_fact_seen_twice_changes_nothing() -> None:
    once = fold([SEND, DELIVERED, REPLY])

    assert fold([SEND, DELIVERED, REPLY, DELIVERED, REPLY, SEND]) == once


def test_a_late_lower_status_never_lowers_but_fills_its_time() -> None:
    state = fold([SEND, DELIVERED, SENT])

    assert state.status is Status.DELIVERED
    assert state.meta_sent_at == at(2)


def test_sent_at_is_the_send_call_until_meta_sends_its_own() -> None:
    before = fold([SEND])
    after = fold([SEND, SENT])

    assert (before.sent_at, after.sent_at) == (at(0), at(2))


def test_read_without_delivered_leaves_delivered_at_empty() -> None:
    state = fold([SEND, READ])

    assert state.status is Status.READ
    assert state.delivered_at is None


def test_played_ranks_as_read() -> None:
    state = fold([SEND, partial(apply_status, meta_status="played", at=at(3))])

    assert (state.status, state.read_at) == (Status.READ, at(3))


def test_delivery_beats_a_failure_but_the_failure_is_kept() -> None:
    state = fold([SEND, FAILED, DELIVERED])

    assert state.status is Status.DELIVERED
    assert state.failure is not None and state.failed_at == at(7)


def test_an_unknown_status_ranks_nowhere() -> None:
    assert fold([SEND, UNKNOWN]) == fold([SEND])


def test_the_earliest_failure_is_the_one_kept() -> None:
    later = partial(
        apply_status,
        meta_status="failed",
        at=at(8),
        failure=Failure(131049, "Cap", "marketing_frequency_cap"),
    )

    for order in itertools.permutations([SEND, later, FAILED]):
        state = fold(order)
        assert state.failure is not None and state.failure.code == 131026


def test_a_rejected_send_fails_without_a_wamid() -> None:
    rejection = Failure(131009, "Invalid", "invalid_number")

    state = apply_send(RecipientState(), at(0), None, rejection)

    assert (state.status, state.wamid, state.failed_at) == (
        Status.FAILED,
        None,
        at(0),
    )
    assert state.bucket is Bucket.FAILED_REJECTED


def test_a_failure_after_acceptance_is_its_own_bucket() -> None:
    assert fold([SEND, FAILED]).bucket is Bucket.FAILED_ACCEPTED


def test_deltas_move_a_recipient_between_buckets() -> None:
    old = fold([SEND])
    new = apply_opt_out(apply_reply(fold([SEND, READ]), at(60)), at(61))

    assert counter_deltas(old, new) == {
        "sent": -1,
        "read": 1,
        "replied": 1,
        "opted_out": 1,
    }


def test_deltas_count_a_new_recipient_once() -> None:
    assert counter_deltas(None, fold([SEND])) == {"sent": 1}


def test_deltas_of_an_unchanged_recipient_are_empty() -> None:
    state = fold([SEND, REPLY])

    assert counter_deltas(state, state) == {}


def test_the_public_counters_are_sums_of_buckets() -> None:
    tally = Tally(
        pending=1,
        sent_only=2,
        failed_accepted=3,
        failed_rejected=4,
        delivered_only=5,
        read=6,
    )

    assert (tally.sent, tally.delivered, tally.read, tally.failed) == (
        16,
        11,
        6,
        7,
    )
    assert tally.recipient_total == 21
