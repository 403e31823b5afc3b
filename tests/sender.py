"""The campaign sender, as tests play it: campaigns and sends over gRPC.

Everything on the shared cases' number 100000000000001 of WABA
200000000000001, display number 16505559999.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from tests.cases import Case, load_cases
from tests.stack import Stack
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

WORKSPACE = "test"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
DISPLAY_NUMBER = "16505559999"
TEMPLATE = "spring_sale_2026"

CASES = {case.name: case for case in load_cases()}


@dataclass(frozen=True)
class Send:
    phone: str
    wamid: str
    sent_at: str = "2026-03-02T10:00:00Z"


def _time(iso: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(iso)
    return stamp


def start_campaign(
    stack: Stack,
    *sends: Send,
    template: str = TEMPLATE,
    language: str = "",
    waba_id: str = WABA_ID,
    display_phone_number: str = "",
) -> str:
    """Create a campaign and record its sends; return its id."""
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Spring sale",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=waba_id,
                template_name=template,
                template_language=language,
                display_phone_number=display_phone_number,
            ),
            timeout=10,
        )
        if sends:
            record_sends(stack, campaign.id, *sends)
    return str(campaign.id)


def record_sends(stack: Stack, campaign_id: str, *sends: Send) -> int:
    """Record the sends; return how many early statuses they applied."""
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        reply = metrics.RecordSends(
            mpb.RecordSendsRequest(
                campaign_id=campaign_id,
                sends=[
                    mpb.Send(
                        phone=send.phone,
                        wamid=send.wamid,
                        sent_at=_time(send.sent_at),
                    )
                    for send in sends
                ],
            ),
            timeout=10,
        )
    return reply.early_statuses_applied


def case_sends(case: Case) -> list[Send]:
    """The sends a case registers before its bodies are posted."""
    return [
        Send(send["recipient"], send["wamid"], send["sent_at"])
        for send in case.expect.get("setup", {}).get("sends", [])
    ]


def post(stack: Stack, body: bytes) -> None:
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text


def post_case(stack: Stack, name: str) -> None:
    for body in CASES[name].posts():
        post(stack, body)


def edited_case(name: str, **value: Any) -> bytes:
    """The case's one body with its first change's value updated."""
    body = CASES[name].body
    assert isinstance(body, bytes)
    document = json.loads(body)
    document["entry"][0]["changes"][0]["value"].update(value)
    return json.dumps(document).encode()


def waba_change(field: str, at: int, **value: Any) -> bytes:
    """A body with one WABA-level change (template, quality, account)."""
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "time": at,
                "changes": [{"field": field, "value": value}],
            }
        ],
    }
    return json.dumps(document).encode()
