"""A contact writing to a business number of the workspace `test`."""

from __future__ import annotations

import time

from tests.stack import Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

PHONE = "16505550177"
PHONE_NUMBER_ID = "100000000000077"


def route_number_to_test(stack: Stack) -> None:
    """A campaign names the business number, so its webhooks find `test`."""
    with stack.channel("metrics") as channel:
        metrics_pb2_grpc.MetricsServiceStub(channel).CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id="test",
                name="Agent flags",
                phone_number_id=PHONE_NUMBER_ID,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )


def contact_writes(stack: Stack, text: str) -> None:
    body = webhooks.body(
        waba_id="200000000000077",
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="16505559977",
        messages=[
            webhooks.text_message(
                f"wamid.agent-flags-{time.time_ns()}", PHONE, int(time.time()) + 1, text
            )
        ],
    )
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text
