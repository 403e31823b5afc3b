"""A page of recipients fetches and converts only what the query selects."""

from __future__ import annotations

from typing import Any

from tests.gateway.fakes import UNAVAILABLE_ID, FakeServices, at
from tests.gateway.support import Keys, ask
from tests.stack import Stack
from xobito.metrics.v1 import metrics_pb2 as mpb

ROW = mpb.RecipientRow(
    phone="16505550001",
    name="Ann",
    status=mpb.RECIPIENT_STATUS_READ,
    wamid="wamid.1",
    sent_at=at("2026-03-02T10:00:00Z"),
    read_at=at("2026-03-02T10:00:03.25Z"),
    timeline=[
        mpb.TimelineEntry(status="SENT", at=at("2026-03-02T10:00:00Z")),
        mpb.TimelineEntry(status="READ", at=at("2026-03-02T10:00:03.25Z")),
    ],
)

WITHOUT_TIMELINE = """
query ($id: ID!) { campaign(id: $id) {
  recipients(first: 5) { edges { node { phone status readAt } } }
} }
"""

THROUGH_FRAGMENTS = """
query ($id: ID!) { campaign(id: $id) {
  recipients(first: 5) { ...Rows }
} }
fragment Rows on RecipientConnection {
  edges { node { phone ... on Recipient { sentAt timeline { status at } } } }
}
"""


TWO_PAGES = """
query ($id: ID!, $sort: RecipientSort, $first: Int) { campaign(id: $id) {
  id
  read: recipients(status: READ, sort: $sort, first: $first) { totalCount }
  failed: recipients(status: FAILED, search: "ann", first: 2) { totalCount }
} }
"""


def _list_requests(
    fakes: FakeServices, campaign_id: str
) -> list[mpb.ListRecipientsRequest]:
    return _requests(fakes, mpb.ListRecipientsRequest, campaign_id)


def _requests(fakes: FakeServices, kind: type, campaign_id: str) -> list[Any]:
    return [
        request
        for request in fakes.metrics.requests
        if isinstance(request, kind) and request.campaign_id == campaign_id
    ]


def test_a_page_without_timelines_asks_metrics_for_none(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_bare", recipient_total=1)
    fakes.metrics.recipients["cmp_bare"] = [ROW]

    answer = gateway.graphql(WITHOUT_TIMELINE, keys.one, id="cmp_bare")

    assert answer["campaign"]["recipients"]["edges"] == [
        {
            "node": {
                "phone": "16505550001",
                "status": "READ",
                "readAt": "2026-03-02T10:00:03.25Z",
            }
        }
    ]
    assert [request.omit_timeline for request in _list_requests(fakes, "cmp_bare")] == [
        True
    ]


def test_fields_selected_through_fragments_are_fetched_and_shown(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_fragments", recipient_total=1)
    fakes.metrics.recipients["cmp_fragments"] = [ROW]

    answer = gateway.graphql(THROUGH_FRAGMENTS, keys.one, id="cmp_fragments")

    assert answer["campaign"]["recipients"]["edges"] == [
        {
            "node": {
                "phone": "16505550001",
                "sentAt": "2026-03-02T10:00:00Z",
                "timeline": [
                    {"status": "SENT", "at": "2026-03-02T10:00:00Z"},
                    {"status": "READ", "at": "2026-03-02T10:00:03.25Z"},
                ],
            }
        }
    ]
    assert [
        request.omit_timeline for request in _list_requests(fakes, "cmp_fragments")
    ] == [False]


def test_a_query_of_recipients_alone_does_not_read_the_campaign(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_pages_only", recipient_total=1)
    fakes.metrics.recipients["cmp_pages_only"] = [ROW]

    answer = gateway.graphql(TWO_PAGES, keys.one, id="cmp_pages_only", first=3)

    assert answer["campaign"] == {
        "id": "cmp_pages_only",
        "read": {"totalCount": 1},
        "failed": {"totalCount": 1},
    }
    assert not _requests(fakes, mpb.GetCampaignRequest, "cmp_pages_only")
    asked = _list_requests(fakes, "cmp_pages_only")
    assert sorted((r.status, r.search, r.page_size) for r in asked) == [
        (mpb.RECIPIENT_STATUS_FAILED, "ann", 2),
        (mpb.RECIPIENT_STATUS_READ, "", 3),
    ]


def test_the_recipients_of_another_workspaces_campaign_are_null(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_foreign_pages", workspace="gw-two")
    fakes.metrics.recipients["cmp_foreign_pages"] = [ROW]

    foreign = ask(gateway, keys.one, WITHOUT_TIMELINE, id="cmp_foreign_pages")
    unknown = ask(gateway, keys.one, WITHOUT_TIMELINE, id="cmp_no_such_pages")

    assert foreign == {"data": {"campaign": None}}
    assert unknown == {"data": {"campaign": None}}


def test_a_page_that_fails_fails_in_its_own_place(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_bad_cursor")

    forged = ask(gateway, keys.one, TWO_PAGES, id="cmp_bad_cursor", first=0)
    down = ask(gateway, keys.one, WITHOUT_TIMELINE, id=UNAVAILABLE_ID)

    assert forged["data"] == {"campaign": None}
    assert [error["path"] for error in forged["errors"]] == [["campaign", "read"]]
    assert [error["path"] for error in down["errors"]] == [["campaign"]]
