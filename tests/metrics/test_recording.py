"""Sends and Meta's events, recorded through the real service."""

from __future__ import annotations

import grpc
import pytest

from tests.metrics.helpers import (
    NUMBER,
    WORKSPACE,
    Metrics,
    at,
    message,
    stamp,
    status,
)
from xobito.ingest.v1 import events_pb2 as ev
from xobito.metrics.v1 import metrics_pb2 as pb

ALICE, BOB, CAROL = "16505551234", "16505551235", "16505551236"

APPLIED = pb.STATUS_OUTCOME_APPLIED
DUPLICATE = pb.STATUS_OUTCOME_DUPLICATE
UNMATCHED = pb.STATUS_OUTCOME_UNMATCHED


def counters(metrics: Metrics, campaign_id: str) -> dict[str, int]:
    c = metrics.campaign(campaign_id).counters
    return {
        "sent": c.sent,
        "delivered": c.delivered,
        "read": c.read,
        "failed": c.failed,
        "replied": c.replied,
        "optedOut": c.opted_out,
    }


@pytest.fixture
def sent(metrics: Metrics) -> str:
    """A campaign whose message to Alice was accepted as wamid.A at T0."""
    campaign_id = metrics.create("cmp-fixture-spring-sale").id
    metrics.add(campaign_id, ALICE)
    metrics.send(campaign_id, (ALICE, "wamid.A", 0))
    return campaign_id


# -- recipients and sends ----------------------------------------------


def test_recipients_are_added_once_per_phone(metrics: Metrics) -> None:
    campaign_id = metrics.create().id

    first = metrics.add(campaign_id, "+1 650 555-1234", (BOB, "Bob"))
    again = metrics.add(campaign_id, ALICE, BOB, CAROL)

    assert (first.added, first.recipient_total) == (2, 2)
    assert (again.added, again.recipient_total) == (1, 3)
    assert sorted(r.phone for r in metrics.rows(campaign_id)) == [ALICE, BOB, CAROL]


def test_a_bad_phone_names_its_index_and_adds_nothing(metrics: Metrics) -> None:
    campaign_id = metrics.create().id

    with pytest.raises(grpc.RpcError) as failure:
        metrics.add(campaign_id, ALICE, "call me")

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "recipients[1]" in (failure.value.details() or "")
    assert metrics.rows(campaign_id) == []


def test_recording_the_same_sends_twice_changes_nothing(
    metrics: Metrics, sent: str
) -> None:
    before = metrics.campaign(sent)

    again = metrics.send(sent, (ALICE, "wamid.A", 0))

    assert again.recorded == 0
    assert metrics.campaign(sent) == before


def test_a_send_adds_a_recipient_not_added_before(metrics: Metrics) -> None:
    campaign_id = metrics.create().id

    result = metrics.send(campaign_id, (BOB, "wamid.B", 0))

    assert result.recorded == 1
    assert metrics.campaign(campaign_id).recipient_total == 1
    assert counters(metrics, campaign_id)["sent"] == 1


def test_a_wamid_of_another_recipient_is_a_conflict(
    metrics: Metrics, sent: str
) -> None:
    metrics.add(sent, BOB)

    with pytest.raises(grpc.RpcError) as failure:
        metrics.send(sent, (BOB, "wamid.A", 1))

    assert failure.value.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_a_rejected_send_counts_as_failed_not_sent(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, ALICE)

    metrics.reject(campaign_id, ALICE, 131009, seconds=3)

    row = metrics.row(campaign_id, ALICE)
    assert counters(metrics, campaign_id)["sent"] == 0
    assert counters(metrics, campaign_id)["failed"] == 1
    assert row.status == pb.RECIPIENT_STATUS_FAILED
    assert (row.wamid, row.failure.code, row.failure.category) == (
        "",
        131009,
        "invalid_number",
    )
    assert row.failed_at == stamp(at(3))


# -- statuses ----------------------------------------------------------


def test_a_late_sent_fills_sent_at_without_lowering(
    metrics: Metrics, sent: str
) -> None:
    first = metrics.record(status("wamid.A", "delivered", 5))
    second = metrics.record(status("wamid.A", "sent", 2))

    row = metrics.row(sent, ALICE)
    assert list(first.status_outcomes) + list(second.status_outcomes) == [
        APPLIED,
        APPLIED,
    ]
    assert row.status == pb.RECIPIENT_STATUS_DELIVERED
    assert (row.sent_at, row.delivered_at) == (stamp(at(2)), stamp(at(5)))
    assert counters(metrics, sent) == {
        "sent": 1, "delivered": 1, "read": 0, "failed": 0,
        "replied": 0, "optedOut": 0,
    }  # fmt: skip


def test_a_repeated_status_is_a_duplicate_and_counted_once(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(status("wamid.A", "delivered", 5))

    again = metrics.record(
        status("wamid.A", "delivered", 5), status("wamid.A", "delivered", 5)
    )

    assert list(again.status_outcomes) == [DUPLICATE, DUPLICATE]
    assert counters(metrics, sent)["delivered"] == 1
    timeline = metrics.row(sent, ALICE).timeline
    assert [(t.status, t.at) for t in timeline] == [("DELIVERED", stamp(at(5)))]


def test_read_without_delivered_counts_as_delivered(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(status("wamid.A", "sent", 2), status("wamid.A", "read", 4))

    row = metrics.row(sent, ALICE)
    assert row.status == pb.RECIPIENT_STATUS_READ
    assert not row.HasField("delivered_at")
    assert counters(metrics, sent)["delivered"] == 1


def test_a_failed_status_shows_its_failure_until_delivery(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(status("wamid.A", "failed", 3, code=131026, title="Undeliverable"))
    failed = metrics.row(sent, ALICE)
    metrics.record(status("wamid.A", "delivered", 4))
    delivered = metrics.row(sent, ALICE)

    assert failed.status == pb.RECIPIENT_STATUS_FAILED
    assert (failed.failure.code, failed.failure.category) == (
        131026,
        "not_on_whatsapp",
    )
    assert failed.failure.action and not failed.failure.retryable
    assert delivered.status == pb.RECIPIENT_STATUS_DELIVERED
    assert not delivered.HasField("failure")
    assert [t.status for t in delivered.timeline] == ["FAILED", "DELIVERED"]
    assert counters(metrics, sent)["failed"] == 0


def test_a_status_before_its_send_is_parked_then_applied(
    metrics: Metrics, sent: str
) -> None:
    metrics.add(sent, BOB)

    early = metrics.record(status("wamid.B", "delivered", 5))
    parked = counters(metrics, sent)
    result = metrics.send(sent, (BOB, "wamid.B", 0))

    assert list(early.status_outcomes) == [UNMATCHED]
    assert parked["delivered"] == 0
    assert result.early_statuses_applied == 1
    assert metrics.row(sent, BOB).status == pb.RECIPIENT_STATUS_DELIVERED
    assert counters(metrics, sent)["delivered"] == 1


def test_a_status_from_another_workspace_is_not_applied(
    metrics: Metrics, sent: str
) -> None:
    result = metrics.record(status("wamid.A", "read", 5, workspace="ws-other"))

    assert list(result.status_outcomes) == [UNMATCHED]
    assert metrics.row(sent, ALICE).status == pb.RECIPIENT_STATUS_SENT


def test_an_unknown_status_is_kept_in_the_timeline_only(
    metrics: Metrics, sent: str
) -> None:
    result = metrics.record(status("wamid.A", "deleted", 5))

    row = metrics.row(sent, ALICE)
    assert list(result.status_outcomes) == [APPLIED]
    assert row.status == pb.RECIPIENT_STATUS_SENT
    assert [t.status for t in row.timeline] == ["DELETED"]


# -- replies and opt-outs ----------------------------------------------


def test_a_message_quoting_the_campaign_is_a_reply(metrics: Metrics, sent: str) -> None:
    result = metrics.record(
        messages=[message("wamid.in1", ALICE, 120, context="wamid.A")]
    )

    assert result.replies == 1
    assert metrics.row(sent, ALICE).replied_at == stamp(at(120))
    assert counters(metrics, sent)["replied"] == 1


def test_a_message_within_the_window_is_a_reply(metrics: Metrics, sent: str) -> None:
    result = metrics.record(messages=[message("wamid.in1", ALICE, 23 * 3600)])

    assert result.replies == 1
    assert counters(metrics, sent)["replied"] == 1


def test_a_message_after_the_window_is_not_a_reply(metrics: Metrics, sent: str) -> None:
    result = metrics.record(messages=[message("wamid.in1", ALICE, 25 * 3600)])

    assert result.replies == 0
    assert counters(metrics, sent)["replied"] == 0


def test_a_message_before_the_send_is_not_a_reply(metrics: Metrics, sent: str) -> None:
    result = metrics.record(messages=[message("wamid.in1", ALICE, -60)])

    assert result.replies == 0


def test_replies_count_a_recipient_once_at_the_earliest(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(messages=[message("wamid.in2", ALICE, 300)])
    again = metrics.record(
        messages=[
            message("wamid.in1", ALICE, 120),
            message("wamid.in2", ALICE, 300),
        ]
    )

    assert again.replies == 1
    assert metrics.row(sent, ALICE).replied_at == stamp(at(120))
    assert counters(metrics, sent)["replied"] == 1


def test_a_reply_goes_to_the_latest_send_before_it(metrics: Metrics) -> None:
    older = metrics.create("cmp-older").id
    newer = metrics.create("cmp-newer").id
    metrics.send(older, (ALICE, "wamid.old", 0))
    metrics.send(newer, (ALICE, "wamid.new", 600))

    metrics.record(messages=[message("wamid.in1", ALICE, 900)])

    assert counters(metrics, older)["replied"] == 0
    assert counters(metrics, newer)["replied"] == 1


def test_a_stop_keyword_opts_out_of_the_latest_campaign(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(messages=[message("wamid.in1", ALICE, 30 * 3600, opt_out=True)])

    row = metrics.row(sent, ALICE)
    assert row.opted_out_at == stamp(at(30 * 3600))
    assert counters(metrics, sent)["optedOut"] == 1
    assert counters(metrics, sent)["replied"] == 0


def test_the_stop_promotions_button_is_a_reply_and_an_opt_out(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(
        messages=[
            message(
                "wamid.in1", ALICE, 60, context="wamid.A", opt_out=True, kind="button"
            )
        ]
    )

    assert counters(metrics, sent)["replied"] == 1
    assert counters(metrics, sent)["optedOut"] == 1


def test_a_marketing_stop_preference_opts_out(metrics: Metrics, sent: str) -> None:
    preference = ev.UserPreference(
        phone_number_id=NUMBER,
        workspace_id=WORKSPACE,
        wa_id=ALICE,
        category="marketing_messages",
        value="stop",
        occurred_at=stamp(at(60)),
        opted_out=True,
    )

    metrics.record(preferences=[preference])

    assert counters(metrics, sent)["optedOut"] == 1


def test_failure_131050_is_not_an_opt_out_from_the_campaign(
    metrics: Metrics, sent: str
) -> None:
    metrics.record(status("wamid.A", "failed", 3, code=131050, title="Stopped"))

    assert counters(metrics, sent)["optedOut"] == 0
    assert counters(metrics, sent)["failed"] == 1


# -- other events ------------------------------------------------------


def test_template_updates_are_stored_once(metrics: Metrics) -> None:
    update = ev.TemplateStatusUpdate(
        waba_id="200000000000001",
        workspace_id=WORKSPACE,
        occurred_at=stamp(at(0)),
        template_id="1234567890123456789",
        template_name="spring_sale_2026",
        event="PAUSED",
        reason="LOW_QUALITY",
    )

    metrics.record(template_updates=[update])
    metrics.record(template_updates=[update])

    stored = metrics.sql(
        "SELECT kind, payload->>'template_id' FROM metrics.account_events"
    )
    assert stored == [("template_status", "1234567890123456789")]


def test_an_event_without_a_workspace_is_refused(metrics: Metrics) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        metrics.record(status("wamid.A", "sent", 1, workspace=""))

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT
