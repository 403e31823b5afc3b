"""Every case of shared/cases/webhooks, through the whole running system.

Each case registers its campaign and sends over gRPC, posts its bodies to
the real webhook endpoint, and reads the answer back through GraphQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.cases import Case, load_cases
from tests.stack import APP_SECRET, Stack
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from xobito.webhooks import sign as sign_with

WORKSPACE = "test"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"

CAMPAIGN_QUERY = """
query($id: ID!) {
  campaign(id: $id) {
    counters { sent delivered read failed replied optedOut }
    recipients(first: 100) {
      edges { node {
        phone wamid status sentAt deliveredAt readAt failedAt repliedAt
        failure { code category title action retryable }
        timeline { status at }
      } }
    }
  }
}
"""

CONTACT_QUERY = """
query($phone: String!) {
  contact(phone: $phone) { phone optedOut inactive inactiveCandidate }
}
"""

CASES = load_cases()


def sign(body: bytes) -> str:
    return sign_with(body, APP_SECRET)


def _tampered(body: bytes) -> bytes:
    middle = len(body) // 2
    flipped = bytes([body[middle] ^ 0x01])
    return body[:middle] + flipped + body[middle + 1 :]


def _timestamp(iso: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(iso)
    return stamp


def _register(stack: Stack, expect: dict[str, Any]) -> str:
    """Create the case's campaign and record its sends, as a sender would."""
    setup = expect.get("setup", {})
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            metrics_pb2.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name=setup.get("campaign", "fixture routing"),
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                template_name=setup.get("template", "spring_sale_2026"),
            ),
            timeout=10,
        )
        sends = setup.get("sends", [])
        if sends:
            metrics.AddRecipients(
                metrics_pb2.AddRecipientsRequest(
                    campaign_id=campaign.id,
                    recipients=[
                        metrics_pb2.Recipient(phone=s["recipient"]) for s in sends
                    ],
                ),
                timeout=10,
            )
            metrics.RecordSends(
                metrics_pb2.RecordSendsRequest(
                    campaign_id=campaign.id,
                    sends=[
                        metrics_pb2.Send(
                            phone=s["recipient"],
                            wamid=s["wamid"],
                            sent_at=_timestamp(s["sent_at"]),
                        )
                        for s in sends
                    ],
                ),
                timeout=10,
            )
    return str(campaign.id)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(stack: Stack, api_key: str, clean: None, case: Case) -> None:
    expect = case.expect
    campaign_id = _register(stack, expect)

    statuses = []
    for body in case.posts():
        if expect.get("sign", "valid") == "tampered":
            reply = stack.post_webhook(_tampered(body), signature=sign(body))
        else:
            reply = stack.post_webhook(body)
        statuses.append(reply.status_code)

    wanted = expect["http_status"]
    assert statuses == (wanted if isinstance(wanted, list) else [wanted])

    final = expect.get("final")
    if final:
        _assert_final(stack, api_key, campaign_id, final)
    for phone, flags in expect.get("contacts", {}).items():
        _assert_contact(stack, api_key, phone, flags)


def _assert_final(
    stack: Stack, api_key: str, campaign_id: str, final: dict[str, Any]
) -> None:
    campaign = stack.graphql(CAMPAIGN_QUERY, api_key, id=campaign_id)["campaign"]
    rows = {
        edge["node"]["wamid"]: edge["node"] for edge in campaign["recipients"]["edges"]
    }

    for wamid, status in final.get("recipients", {}).items():
        assert rows[wamid]["status"] == status, wamid
    for counter, value in final.get("counters", {}).items():
        assert campaign["counters"][counter] == value, counter
    if "replied" in final:
        replied = {wamid for wamid, row in rows.items() if row["repliedAt"]}
        assert replied == set(final["replied"])
    for wamid, times in final.get("recipient_times", {}).items():
        for field, value in times.items():
            assert rows[wamid][field] == value, (wamid, field)
    for wamid, failure in final.get("failure", {}).items():
        for field, value in failure.items():
            assert rows[wamid]["failure"][field] == value, (wamid, field)
    for wamid, timeline in final.get("timeline", {}).items():
        assert [[e["status"], e["at"]] for e in rows[wamid]["timeline"]] == timeline


def _assert_contact(
    stack: Stack, api_key: str, phone: str, flags: dict[str, Any]
) -> None:
    contact = stack.graphql(CONTACT_QUERY, api_key, phone=phone)["contact"]
    assert contact is not None, phone
    if "optedOut" in flags:
        assert contact["optedOut"] is flags["optedOut"], phone
    if "inactive_candidate" in flags:
        assert contact["inactiveCandidate"] is flags["inactive_candidate"], phone
