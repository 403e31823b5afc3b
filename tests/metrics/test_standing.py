"""The metrics service's own side of warnings and unmatched statuses."""

from __future__ import annotations

import grpc
import pytest

from tests.metrics.helpers import NUMBER, WORKSPACE, Metrics, at, stamp
from xobito.ingest.v1 import events_pb2 as ev
from xobito.metrics.v1 import metrics_pb2 as pb

WABA = "200000000000001"


def create(metrics: Metrics, number: str = NUMBER, **fields: str) -> pb.Campaign:
    return metrics.stub.CreateCampaign(
        pb.CreateCampaignRequest(
            workspace_id=WORKSPACE,
            name="Spring sale",
            phone_number_id=number,
            waba_id=WABA,
            template_name="spring_sale_2026",
            **fields,
        )
    )


def flagged(display: str) -> ev.PhoneQualityUpdate:
    return ev.PhoneQualityUpdate(
        waba_id=WABA,
        workspace_id=WORKSPACE,
        occurred_at=stamp(at(3600)),
        display_phone_number=display,
        event="FLAGGED",
        current_limit="TIER_10K",
        max_daily="10000",
    )


def number_of(metrics: Metrics, campaign_id: str) -> pb.BusinessNumber:
    return metrics.stub.GetBusinessNumber(
        pb.GetBusinessNumberRequest(workspace_id=WORKSPACE, campaign_id=campaign_id)
    )


def test_a_campaign_keeps_its_template_language(metrics: Metrics) -> None:
    created = create(metrics, template_language="en_US")

    assert metrics.campaign(created.id).template_language == "en_US"


def test_a_display_number_that_is_no_number_is_refused(metrics: Metrics) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        create(metrics, display_phone_number="the shop")

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_registered_display_number_routes_quality_updates(
    metrics: Metrics,
) -> None:
    campaign = create(metrics, display_phone_number="16505559999")
    create(metrics, number="100000000000002")

    metrics.record(quality_updates=[flagged("16505559999"), flagged("16505558888")])

    number = number_of(metrics, campaign.id)
    assert (number.display_phone_number, number.quality_event) == (
        "16505559999",
        "FLAGGED",
    )


def test_with_two_numbers_and_no_display_number_no_update_is_guessed(
    metrics: Metrics,
) -> None:
    campaign = create(metrics)
    create(metrics, number="100000000000002")

    metrics.record(quality_updates=[flagged("16505559999")])

    number = number_of(metrics, campaign.id)
    assert (number.display_phone_number, number.quality_event) == ("", "")


def test_the_warnings_of_another_workspaces_campaign_are_not_found(
    metrics: Metrics,
) -> None:
    campaign = create(metrics)

    with pytest.raises(grpc.RpcError) as failure:
        metrics.stub.ListCampaignWarnings(
            pb.ListCampaignWarningsRequest(
                workspace_id="ws-other", campaign_id=campaign.id
            )
        )

    assert failure.value.code() is grpc.StatusCode.NOT_FOUND


def test_a_page_token_not_ours_is_refused(metrics: Metrics) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        metrics.stub.ListUnmatchedStatuses(
            pb.ListUnmatchedStatusesRequest(
                workspace_id=WORKSPACE, page_token="not-a-token"
            )
        )

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT
