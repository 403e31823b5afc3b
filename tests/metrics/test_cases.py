"""The shared webhook cases' final state, from their normalized events.

The end-to-end tests post the webhook bodies through ingest; here the
events the cases list go straight to RecordEvents, one call each, so a
mismatch points at the metrics service itself.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.metrics.helpers import NUMBER, WORKSPACE, Metrics, stamp
from xobito.ingest.v1 import events_pb2 as ev
from xobito.metrics.v1 import metrics_pb2 as pb

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "webhooks"


def _cases() -> list[Any]:
    if not CASES.is_dir():
        return []
    found = []
    for path in sorted(CASES.glob("*.expect.json")):
        case = json.loads(path.read_text())
        if "setup" in case and "final" in case:
            found.append(pytest.param(case, id=path.name.split(".")[0]))
    return found


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _batch(event: dict[str, Any]) -> ev.EventBatch:
    batch = ev.EventBatch()
    when = stamp(_time(event["timestamp"]))
    if event["kind"] == "status":
        status = batch.statuses.add(
            phone_number_id=NUMBER,
            workspace_id=WORKSPACE,
            wamid=event["wamid"],
            status=event["status"],
            occurred_at=when,
        )
        if event["error"]:
            status.error.code = event["error"]["code"]
            status.error.title = event["error"]["title"]
    elif event["kind"] == "message":
        message = batch.messages.add(
            phone_number_id=NUMBER,
            workspace_id=WORKSPACE,
            wamid=event["wamid"],
            occurred_at=when,
            type=event["type"],
            context_wamid=event["context_wamid"] or "",
            opt_out=event["opt_out"],
        )
        message.sender = event["from"]
    return batch


def _iso(row: pb.RecipientRow, field: str) -> str | None:
    if not row.HasField(field):  # type: ignore[arg-type]
        return None
    stamp_: Any = getattr(row, field)
    return str(stamp_.ToJsonString()).replace(".000Z", "Z")


@pytest.mark.parametrize("case", _cases())
def test_the_case_ends_in_its_final_state(
    metrics: Metrics, case: dict[str, Any]
) -> None:
    setup = case["setup"]
    campaign_id = metrics.create(setup["campaign"]).id
    metrics.add(campaign_id, *[send["recipient"] for send in setup["sends"]])
    for send in setup["sends"]:
        metrics.stub.RecordSends(
            pb.RecordSendsRequest(
                campaign_id=campaign_id,
                sends=[
                    pb.Send(
                        phone=send["recipient"],
                        wamid=send["wamid"],
                        sent_at=stamp(_time(send["sent_at"])),
                    )
                ],
            )
        )

    for event in case["events"]:
        metrics.stub.RecordEvents(pb.RecordEventsRequest(batch=_batch(event)))

    final = case["final"]
    rows = {row.wamid: row for row in metrics.rows(campaign_id)}
    for wamid, expected in final.get("recipients", {}).items():
        assert pb.RecipientStatus.Name(rows[wamid].status) == (
            f"RECIPIENT_STATUS_{expected}"
        )
    counters = metrics.campaign(campaign_id).counters
    for name, expected in final.get("counters", {}).items():
        field = "opted_out" if name == "optedOut" else name
        assert (name, getattr(counters, field)) == (name, expected)
    for wamid in final.get("replied", []):
        assert rows[wamid].HasField("replied_at")
    for wamid, times in final.get("recipient_times", {}).items():
        for name, expected in times.items():
            field = {"sentAt": "sent_at", "deliveredAt": "delivered_at"}.get(
                name, "read_at"
            )
            assert _iso(rows[wamid], field) == expected
    for wamid, timeline in final.get("timeline", {}).items():
        assert [
            [entry.status, entry.at.ToJsonString().replace(".000Z", "Z")]
            for entry in rows[wamid].timeline
        ] == timeline
