"""A contact, as the tests play them: Meta's webhooks and the sender's sends.

A Person writes to, or is sent to from, one business number of a
workspace. Their events carry strictly increasing times, all after the
moment they are posted: the contacts rules compare the times of events,
not of arrivals.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from tests.stack import Stack
from xobito import webhooks
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.contacts.v1 import contacts_pb2_grpc
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

CONTACT = """
query ($phone: String!) {
  contact(phone: $phone) {
    optedOut optedOutReason inactive inactiveReason failureStreak
    flagHistory(first: 1) { edges { node { flag value reason setBy } } }
  }
}
"""

COUNTERS = """
query ($id: ID!) {
  campaign(id: $id) { counters { sent delivered read failed replied optedOut } }
}
"""

ERASE = """
mutation ($phone: String!) {
  eraseContact(phone: $phone) { __typename }
}
"""


@dataclass(frozen=True)
class BusinessNumber:
    """A number a workspace sends campaigns from."""

    workspace_id: str
    phone_number_id: str
    waba_id: str
    display_phone_number: str

    def campaign(self, stack: Stack, name: str = "Contact rules") -> str:
        """A new campaign from the number; the first makes it the workspace's."""
        with stack.channel("metrics") as channel:
            campaign = metrics_pb2_grpc.MetricsServiceStub(channel).CreateCampaign(
                mpb.CreateCampaignRequest(
                    workspace_id=self.workspace_id,
                    name=name,
                    phone_number_id=self.phone_number_id,
                    waba_id=self.waba_id,
                    template_name="spring_sale_2026",
                ),
                timeout=10,
            )
        return str(campaign.id)


class Person:
    """A contact of the workspace of `number`, with the key of that workspace."""

    def __init__(
        self, stack: Stack, api_key: str, phone: str, number: BusinessNumber
    ) -> None:
        self.stack = stack
        self.api_key = api_key
        self.phone = phone
        self.number = number
        self._at = 0
        self._ids = itertools.count(1)

    # -- what Meta's webhooks tell of them --------------------------------

    def writes(self, text: str, at: int | None = None) -> None:
        """A text message, written now or at `at` (Meta may deliver late)."""
        when = self.now() if at is None else at
        message = webhooks.text_message(self._wamid("in"), self.phone, when, text)
        self.post(messages=[message])

    def taps_stop_promotions(self) -> None:
        self.post(
            messages=[
                {
                    "from": self.phone,
                    "id": self._wamid("in"),
                    "timestamp": str(self.now()),
                    "type": "button",
                    "button": {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
                }
            ]
        )

    def tells_meta(self, value: str) -> None:
        """A user_preferences webhook: Meta's marketing `stop` or `resume`."""
        preference = {
            "wa_id": self.phone,
            "category": "marketing_messages",
            "value": value,
            "timestamp": self.now(),
        }
        self.post(field="user_preferences", user_preferences=[preference])

    def is_sent_to(self, status: str, error_code: int = 0, wamid: str = "") -> None:
        """A status of a message to the person; error_code if it failed."""
        item = webhooks.status(
            wamid or self._wamid("out"),
            status,
            self.now(),
            self.phone,
            error_code=error_code,
        )
        self.post(statuses=[item])

    def fails(self, error_code: int, times: int = 1) -> None:
        for _ in range(times):
            self.is_sent_to("failed", error_code)

    def post(self, field: str = "messages", **items: Any) -> None:
        """A signed webhook from the person's business number."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.number.display_phone_number,
                "phone_number_id": self.number.phone_number_id,
            },
            **items,
        }
        body = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.number.waba_id,
                    "changes": [{"value": value, "field": field}],
                }
            ],
        }
        reply = self.stack.post_webhook(orjson.dumps(body))
        assert reply.status_code == 200, reply.text

    # -- what the campaign sender does ------------------------------------

    def receives_campaign(self) -> str:
        """A new campaign's message, accepted by Meta; the campaign."""
        campaign_id = self.number.campaign(self.stack)
        send = mpb.Send(
            phone=self.phone,
            wamid=self._wamid("campaign"),
            sent_at=Timestamp(seconds=self.now()),
        )
        self._record_sends(campaign_id, send)
        return campaign_id

    def counters(self, campaign_id: str) -> dict[str, int]:
        """The campaign's counters, as the workspace's people see them."""
        found = self.stack.graphql(COUNTERS, self.api_key, id=campaign_id)
        counters: dict[str, int] = found["campaign"]["counters"]
        return counters

    def is_refused_at_send(self, error_code: int, campaign_id: str = "") -> str:
        """Meta refuses the send call to the person (no wamid); the campaign."""
        campaign_id = campaign_id or self.number.campaign(self.stack)
        send = mpb.Send(
            phone=self.phone,
            error_code=error_code,
            error_title=f"error {error_code}",
            sent_at=Timestamp(seconds=self.now()),
        )
        self._record_sends(campaign_id, send)
        return campaign_id

    def _record_sends(self, campaign_id: str, *sends: mpb.Send) -> None:
        with self.stack.channel("metrics") as channel:
            metrics_pb2_grpc.MetricsServiceStub(channel).RecordSends(
                mpb.RecordSendsRequest(campaign_id=campaign_id, sends=sends),
                timeout=10,
            )

    def sendability(self) -> tuple[bool, str]:
        """What FilterSendable answers the sender about the person."""
        with self.stack.channel("contacts") as channel:
            reply = contacts_pb2_grpc.ContactsServiceStub(channel).FilterSendable(
                cpb.FilterSendableRequest(
                    workspace_id=self.number.workspace_id, phones=[self.phone]
                ),
                timeout=10,
            )
        [result] = reply.results
        return result.sendable, result.reason

    # -- what the workspace's people see and do ---------------------------

    def contact(self) -> dict[str, Any]:
        found = self.stack.graphql(CONTACT, self.api_key, phone=self.phone)
        contact: dict[str, Any] = found["contact"]
        return contact

    def latest_change(self) -> tuple[str, bool, str, str]:
        """(flag, value, reason, setBy) of the newest flag change."""
        [edge] = self.contact()["flagHistory"]["edges"]
        node = edge["node"]
        return node["flag"], node["value"], node["reason"], node["setBy"]

    def agent(self, mutation: str) -> None:
        self.stack.graphql(mutation, self.api_key, phone=self.phone)

    def is_erased(self) -> None:
        erased = self.stack.graphql(ERASE, self.api_key, phone=self.phone)
        assert erased["eraseContact"]["__typename"] == "ContactErased"

    # -- time --------------------------------------------------------------

    def now(self) -> int:
        """A new time: strictly increasing, and after anything done until now."""
        self._at = max(self._at + 1, int(time.time()) + 1)
        return self._at

    def _wamid(self, direction: str) -> str:
        return f"wamid.person-{direction}-{self.phone}-{next(self._ids)}"
