"""A page of recipients fetches and converts only what the query selects."""

from __future__ import annotations

from tests.gateway.fakes import FakeServices, at
from tests.gateway.support import Keys
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


def _list_requests(
    fakes: FakeServices, campaign_id: str
) -> list[mpb.ListRecipientsRequest]:
    return [
        request
        for request in fakes.metrics.requests
        if isinstance(request, mpb.ListRecipientsRequest)
        and request.campaign_id == campaign_id
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
