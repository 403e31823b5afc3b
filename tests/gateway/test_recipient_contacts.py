"""A recipient row leads to its contact, one contacts call per page."""

from __future__ import annotations

from tests.stack import Stack
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

WORKSPACE = "test"
PHONES = [f"165055504{n:02d}" for n in range(50)]

PAGE = """
query ($id: ID!) {
  campaign(id: $id) {
    recipients(first: 50) {
      edges { node { phone contact { phone optedOut inactive } } }
    }
  }
}
"""

FLAG = """
mutation ($phone: String!) {
  setContactFlag(phone: $phone, flag: OPTED_OUT) { __typename }
}
"""


def start_campaign(stack: Stack) -> str:
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Contacts",
                phone_number_id="100000000000001",
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[mpb.Recipient(phone=phone) for phone in PHONES],
            ),
            timeout=10,
        )
    return str(campaign.id)


def contacts_calls(stack: Stack) -> int:
    """GetContacts calls so far, from the contacts service's call log."""
    log = stack.log_path("contacts").read_text()
    return log.count("ContactsService/GetContacts")


def test_a_recipient_row_shows_its_contact(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    stack.graphql(FLAG, api_key, phone=PHONES[0])

    edges = stack.graphql(PAGE, api_key, id=campaign_id)["campaign"]["recipients"][
        "edges"
    ]

    assert edges[0]["node"]["contact"] == {
        "phone": PHONES[0],
        "optedOut": True,
        "inactive": False,
    }
    # A phone that never became a contact has none.
    assert edges[1]["node"]["contact"] is None


def test_a_page_of_fifty_rows_makes_one_contacts_call(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    before = contacts_calls(stack)

    data = stack.graphql(PAGE, api_key, id=campaign_id)

    assert len(data["campaign"]["recipients"]["edges"]) == 50
    assert contacts_calls(stack) - before == 1
