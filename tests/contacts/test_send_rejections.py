"""Sends Meta refused at the send call reach contacts, or are recorded again.

Metrics and contacts run in processes of their own here, so that
contacts can be missing when the sender records its sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from tests.contacts.events import PHONE, WORKSPACE, contact
from tests.stack import Servers, Stack
from xobito.contacts.v1 import contacts_pb2_grpc
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

NOT_ON_WHATSAPP = 131026


@pytest.fixture
def metrics_alone(servers: Servers, no_contacts: None) -> Iterator[Stack]:
    """Metrics, with no contacts service where it looks for one."""
    stack = Stack(servers)
    try:
        stack.start("metrics")
        yield stack
    finally:
        stack.stop()


def _record_refused_send(stack: Stack, campaign_id: str) -> None:
    send = mpb.Send(
        phone=PHONE,
        error_code=NOT_ON_WHATSAPP,
        error_title="Recipient can't receive WhatsApp messages",
        sent_at=Timestamp(seconds=1_772_445_600),
    )
    with stack.channel("metrics") as channel:
        metrics_pb2_grpc.MetricsServiceStub(channel).RecordSends(
            mpb.RecordSendsRequest(campaign_id=campaign_id, sends=[send]),
            timeout=10,
        )


def _campaign(stack: Stack) -> str:
    with stack.channel("metrics") as channel:
        campaign = metrics_pb2_grpc.MetricsServiceStub(channel).CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Refused",
                phone_number_id="100000000000089",
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
    return str(campaign.id)


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.Call) and exc.code() is grpc.StatusCode.UNAVAILABLE


def test_sends_recorded_while_contacts_is_down_are_refused_then_count_once(
    metrics_alone: Stack,
) -> None:
    campaign_id = _campaign(metrics_alone)
    with pytest.raises(grpc.RpcError) as down:
        _record_refused_send(metrics_alone, campaign_id)

    metrics_alone.start_service("contacts")
    # As the sender does: again, until metrics has told contacts.
    for attempt in Retrying(
        retry=retry_if_exception(_unavailable),
        stop=stop_after_delay(30),
        wait=wait_fixed(0.2),
        reraise=True,
    ):
        with attempt:
            _record_refused_send(metrics_alone, campaign_id)
    _record_refused_send(metrics_alone, campaign_id)

    assert down.value.code() is grpc.StatusCode.UNAVAILABLE
    with metrics_alone.channel("contacts") as channel:
        found = contact(contacts_pb2_grpc.ContactsServiceStub(channel))
    assert found.failure_streak == 1
