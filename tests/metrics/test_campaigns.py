from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from tests.metrics.helpers import NUMBER, WORKSPACE, Metrics
from xobito.metrics.v1 import metrics_pb2 as pb


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as failure:
        call()
    return failure.value.code()


def test_a_new_campaign_gets_a_cmp_id_and_is_scheduled(metrics: Metrics) -> None:
    campaign = metrics.create()

    assert campaign.id.startswith("cmp_") and len(campaign.id) == 30
    assert campaign.workspace_id == WORKSPACE
    assert campaign.status == pb.CAMPAIGN_STATUS_SCHEDULED
    assert campaign.recipient_total == 0
    assert campaign.created_at.seconds > 0


def test_creating_a_campaign_id_again_returns_the_first(metrics: Metrics) -> None:
    first = metrics.create("cmp-fixture-spring-sale")

    again = metrics.create("cmp-fixture-spring-sale", name="Another name")

    assert again == first


@pytest.mark.parametrize(
    "field", ["workspace_id", "name", "phone_number_id", "template_name"]
)
def test_create_requires_its_fields(metrics: Metrics, field: str) -> None:
    request = pb.CreateCampaignRequest(
        workspace_id=WORKSPACE, name="n", phone_number_id=NUMBER, template_name="t"
    )
    request.ClearField(field)  # type: ignore[arg-type]

    code = _code(lambda: metrics.stub.CreateCampaign(request))

    assert code is grpc.StatusCode.INVALID_ARGUMENT


def test_a_campaign_id_with_other_characters_is_refused(metrics: Metrics) -> None:
    assert _code(lambda: metrics.create("no spaces")) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )


@pytest.mark.parametrize("workspace", ["Acme", "ghost ws", "a" * 64, "-dash"])
def test_a_workspace_id_no_key_could_have_is_refused(
    metrics: Metrics, workspace: str
) -> None:
    assert _code(lambda: metrics.create(workspace=workspace)) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_a_name_of_a_megabyte_is_refused(metrics: Metrics) -> None:
    assert _code(lambda: metrics.create(name="n" * 1_000_000)) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_a_number_of_another_workspace_is_a_conflict(metrics: Metrics) -> None:
    metrics.create(workspace="ws-a")

    code = _code(lambda: metrics.create(workspace="ws-b"))

    assert code is grpc.StatusCode.FAILED_PRECONDITION


def test_routes_name_the_workspace_of_numbers_and_wabas(metrics: Metrics) -> None:
    metrics.create(waba="200000000000001")

    routes = metrics.stub.ResolveRoutes(
        pb.ResolveRoutesRequest(
            phone_number_ids=[NUMBER, "999"], waba_ids=["200000000000001", "998"]
        )
    )

    assert [(r.key, r.workspace_id) for r in routes.phone_numbers] == [
        (NUMBER, WORKSPACE)
    ]
    assert [(r.key, r.workspace_id) for r in routes.wabas] == [
        ("200000000000001", WORKSPACE)
    ]


def test_another_workspace_does_not_find_the_campaign(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    watch = pb.WatchCountersRequest(workspace_id="ws-other", campaign_id=campaign_id)

    calls = [
        lambda: metrics.campaign(campaign_id, workspace="ws-other"),
        lambda: metrics.rows(campaign_id, workspace="ws-other"),
        lambda: metrics.stub.ListFailureReasons(
            pb.ListFailureReasonsRequest(
                workspace_id="ws-other", campaign_id=campaign_id
            )
        ),
        lambda: next(iter(metrics.stub.WatchCounters(watch))),
    ]

    assert [_code(call) for call in calls] == [grpc.StatusCode.NOT_FOUND] * 4


def test_campaigns_are_listed_newest_first_page_by_page(metrics: Metrics) -> None:
    created = [metrics.create(f"cmp-{n}").id for n in range(5)]
    metrics.create("cmp-elsewhere", workspace="ws-other", number="100000000000002")

    seen: list[str] = []
    token = ""
    while True:
        page = metrics.stub.ListCampaigns(
            pb.ListCampaignsRequest(
                workspace_id=WORKSPACE, page_size=2, page_token=token
            )
        )
        assert page.total_count == 5
        seen += [campaign.id for campaign in page.campaigns]
        token = page.next_page_token
        if not token:
            break

    assert seen == list(reversed(created))


def test_status_follows_the_sends(metrics: Metrics) -> None:
    campaign_id = metrics.create().id
    metrics.add(campaign_id, "16505551234", "16505551235")
    scheduled = metrics.campaign(campaign_id).status

    metrics.send(campaign_id, ("16505551234", "wamid.A", 0))
    sending = metrics.campaign(campaign_id).status
    metrics.reject(campaign_id, "16505551235", 131026)
    completed = metrics.campaign(campaign_id).status

    assert (scheduled, sending, completed) == (
        pb.CAMPAIGN_STATUS_SCHEDULED,
        pb.CAMPAIGN_STATUS_SENDING,
        pb.CAMPAIGN_STATUS_COMPLETED,
    )


def test_a_name_postgresql_cannot_store_is_an_invalid_argument(
    metrics: Metrics,
) -> None:
    request = pb.CreateCampaignRequest(
        workspace_id=WORKSPACE,
        name="a\x00b",
        phone_number_id=NUMBER,
        template_name="t",
    )

    code = _code(lambda: metrics.stub.CreateCampaign(request))

    assert code is grpc.StatusCode.INVALID_ARGUMENT


def test_a_send_time_out_of_range_is_an_invalid_argument(metrics: Metrics) -> None:
    campaign = metrics.create()
    metrics.add(campaign.id, "15550001111")
    send = pb.Send(phone="15550001111", wamid="wamid.far")
    send.sent_at.seconds = 10**12

    code = _code(
        lambda: metrics.stub.RecordSends(
            pb.RecordSendsRequest(campaign_id=campaign.id, sends=[send])
        )
    )

    assert code is grpc.StatusCode.INVALID_ARGUMENT


def test_an_enormous_unknown_campaign_id_is_not_found(metrics: Metrics) -> None:
    request = pb.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id="x" * 20000)

    code = _code(lambda: metrics.stub.GetCampaign(request))

    assert code is grpc.StatusCode.NOT_FOUND
