"""A batch of events costs a handful of round trips to PostgreSQL.

The first test counts the exchanges psycopg waits on while the write
path records a batch in process, against the stack's PostgreSQL and
Valkey; the second checks what a pipelined batch of every kind records.
"""

from __future__ import annotations

from datetime import timedelta

from services.metrics.batches import event_batch
from services.metrics.counters import Counters
from services.metrics.events import Outcome
from services.metrics.ledger import Pool
from services.metrics.recording import Recorder
from tests.metrics.helpers import Metrics, message, status
from tests.round_trips import counting_round_trips
from xobito.ingest.v1 import events_pb2 as ev
from xobito.metrics.v1 import metrics_pb2 as pb

ALICE, BOB, CAROL = "16505551234", "16505551235", "16505551236"


def test_a_batch_of_statuses_takes_seven_round_trips_at_most(metrics: Metrics) -> None:
    campaign_id = metrics.create("cmp-round-trips").id
    metrics.add(campaign_id, ALICE, BOB, CAROL)
    metrics.send(
        campaign_id, (ALICE, "wamid.A", 0), (BOB, "wamid.B", 0), (CAROL, "wamid.C", 0)
    )
    batch = event_batch(
        ev.EventBatch(
            statuses=[
                status("wamid.A", "delivered", 5),
                status("wamid.B", "read", 6),
                status("wamid.C", "sent", 1),
            ]
        )
    )

    async def work(counters: Counters, pool: Pool) -> tuple[list[Outcome], int]:
        recorder = Recorder(pool, counters, timedelta(hours=24))
        with counting_round_trips() as round_trips:
            outcomes = (await recorder.record_events(batch)).outcomes
        return outcomes, round_trips[0]

    outcomes, round_trips = metrics.with_counters(work)

    assert outcomes == [Outcome.APPLIED] * 3
    # At most one each for BEGIN (psycopg syncs after it), the wamids'
    # locks with their recipients, locking the rows, the new statuses, the
    # rows' changes with their counter deltas, COMMIT; one to delete the
    # applied outbox row. An answer there already needs no wait. Each
    # statement its own round trip made eleven.
    assert round_trips <= 7


def test_a_mixed_batch_records_what_each_event_says(metrics: Metrics) -> None:
    campaign_id = metrics.create("cmp-mixed-batch").id
    metrics.add(campaign_id, ALICE, BOB, CAROL)
    metrics.send(campaign_id, (ALICE, "wamid.A", 0), (CAROL, "wamid.C", 0))
    metrics.record(status("wamid.A", "read", 8))

    result = metrics.record(
        status("wamid.A", "read", 8),  # told again
        status("wamid.A", "sent", 1),  # late, below the read
        status("wamid.B", "delivered", 5),  # before its send
        status("wamid.C", "failed", 3, code=131026, title="Undeliverable"),
        status("wamid.C", "delivered", 4),
        status("wamid.C", "delivered", 4),  # twice in the batch
        messages=[message("wamid.in-1", CAROL, 9, context="wamid.C")],
    )
    sent_b = metrics.send(campaign_id, (BOB, "wamid.B", 2))

    applied, duplicate, unmatched = (
        pb.STATUS_OUTCOME_APPLIED,
        pb.STATUS_OUTCOME_DUPLICATE,
        pb.STATUS_OUTCOME_UNMATCHED,
    )
    assert list(result.status_outcomes) == [
        duplicate, applied, unmatched, applied, applied, duplicate,
    ]  # fmt: skip
    assert result.replies == 1
    assert sent_b.early_statuses_applied == 1
    rows = {row.phone: row for row in metrics.rows(campaign_id)}
    assert [t.status for t in rows[ALICE].timeline] == ["SENT", "READ"]
    assert rows[ALICE].status == pb.RECIPIENT_STATUS_READ  # not lowered
    assert rows[BOB].status == pb.RECIPIENT_STATUS_DELIVERED  # unparked
    assert rows[CAROL].status == pb.RECIPIENT_STATUS_DELIVERED
    assert rows[CAROL].HasField("replied_at")
    counters = metrics.campaign(campaign_id).counters
    assert (counters.sent, counters.delivered, counters.read) == (3, 3, 1)
    assert (counters.failed, counters.replied) == (0, 1)
