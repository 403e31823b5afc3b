"""Every contacts rule, from signed webhooks to the GraphQL contact.

Each test is a person of its own (a new phone) writing to, or being sent
to from, a business number of the workspace `test`, so the tests need no
clean slate. Events carry increasing times, all after the moment they
are posted: the rules compare the times of events, not of arrivals.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.stack import Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

PHONE_NUMBER_ID = "100000000000083"
WABA_ID = "200000000000083"
DISPLAY_NUMBER = "16505559983"

CONTACT = """
query ($phone: String!) {
  contact(phone: $phone) {
    optedOut optedOutReason inactive inactiveReason failureStreak
    flagHistory(first: 1) { edges { node { flag value reason setBy } } }
  }
}
"""

SET_FLAG = """
mutation ($phone: String!) {
  setContactFlag(phone: $phone, flag: OPTED_OUT, agent: "ana") { __typename }
}
"""

CLEAR_FLAG = """
mutation ($phone: String!) {
  clearContactFlag(phone: $phone, flag: OPTED_OUT, agent: "ana") { __typename }
}
"""

# One or more forms of the default stop keywords in each language.
STOP_FORMS = {
    "english-upper": "STOP",
    "english-full-stop": "Stop.",
    "english-emoji": "stop 🙏",
    "english-unsubscribe": "  Unsubscribe  ",
    "french-accent": "ARRÊT",
    "french-verb": "Arrêter",
    "spanish": "parar",
    "spanish-exclaimed": "¡Baja!",
    "portuguese": "Sair",
    "german": "Abmelden",
    "dutch": "afmelden",
    "italian": "Basta!",
    "hindi-latin": "band karo",
    "indonesian": "Berhenti",
}

NOT_STOPS = ["don't stop", "stop by tomorrow?", "non-stop deals", "stopping by later"]

UNDELIVERABLE = 131026
MARKETING_STOP = 131050
MARKETING_CAP = 131049

_numbers = itertools.count(1)


class Person:
    """A contact of the workspace `test`, as Meta's webhooks tell of them."""

    def __init__(self, stack: Stack, api_key: str, phone: str) -> None:
        self.stack = stack
        self.api_key = api_key
        self.phone = phone
        self._at = 0
        self._ids = itertools.count(1)

    def writes(self, text: str) -> None:
        message = webhooks.text_message(
            self._wamid("in"), self.phone, self._now(), text
        )
        self._post(messages=[message])

    def taps_stop_promotions(self) -> None:
        self._post(
            messages=[
                {
                    "from": self.phone,
                    "id": self._wamid("in"),
                    "timestamp": str(self._now()),
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
            "timestamp": self._now(),
        }
        self._post(field="user_preferences", user_preferences=[preference])

    def is_sent_to(self, status: str, error_code: int = 0) -> None:
        """A status of a new message to the person; error_code if failed."""
        item = webhooks.status(
            self._wamid("out"), status, self._now(), self.phone, error_code=error_code
        )
        self._post(statuses=[item])

    def fails(self, error_code: int, times: int = 1) -> None:
        for _ in range(times):
            self.is_sent_to("failed", error_code)

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

    def _now(self) -> int:
        # Strictly increasing, and after anything an agent did until now.
        self._at = max(self._at + 1, int(time.time()) + 1)
        return self._at

    def _wamid(self, direction: str) -> str:
        return f"wamid.rules-{direction}-{self.phone}-{next(self._ids)}"

    def _post(self, field: str = "messages", **items: Any) -> None:
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": DISPLAY_NUMBER,
                "phone_number_id": PHONE_NUMBER_ID,
            },
            **items,
        }
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": field}]}],
        }
        reply = self.stack.post_webhook(orjson.dumps(body))
        assert reply.status_code == 200, reply.text


@pytest.fixture
def person(stack: Stack, api_key: str) -> Iterator[Person]:
    """A new phone, writing to a number a campaign of `test` names."""
    with stack.channel("metrics") as channel:
        metrics_pb2_grpc.MetricsServiceStub(channel).CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id="test",
                name="Contact rules",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
    yield Person(stack, api_key, f"1650558{next(_numbers):04d}")


# -- stop and start keywords ------------------------------------------------


@pytest.mark.parametrize("text", list(STOP_FORMS.values()), ids=list(STOP_FORMS))
def test_a_stop_keyword_opts_the_contact_out(person: Person, text: str) -> None:
    person.writes(text)

    contact = person.contact()
    assert (contact["optedOut"], contact["optedOutReason"]) == (True, "stop_keyword")


@pytest.mark.parametrize("text", NOT_STOPS)
def test_a_sentence_with_stop_in_it_opts_nobody_out(person: Person, text: str) -> None:
    person.writes(text)

    assert person.contact()["optedOut"] is False


def test_the_stop_promotions_button_opts_the_contact_out(person: Person) -> None:
    person.taps_stop_promotions()

    contact = person.contact()
    assert (contact["optedOut"], contact["optedOutReason"]) == (True, "stop_button")


def test_start_undoes_a_stop_keyword(person: Person) -> None:
    person.writes("STOP")

    person.writes("START")

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "start_keyword", "rule")


def test_start_undoes_the_stop_promotions_button(person: Person) -> None:
    person.taps_stop_promotions()

    person.writes("start")

    assert person.contact()["optedOut"] is False


def test_writing_something_else_does_not_undo_a_stop_keyword(
    person: Person,
) -> None:
    person.writes("STOP")

    person.writes("Hola, ¿tienen envío gratis?")

    assert person.contact()["optedOut"] is True


# -- Meta's marketing opt-out ---------------------------------------------


def test_metas_marketing_stop_opts_the_contact_out(person: Person) -> None:
    person.tells_meta("stop")

    contact = person.contact()
    assert (contact["optedOut"], contact["optedOutReason"]) == (
        True,
        "meta_marketing_stop",
    )


def test_metas_resume_undoes_metas_marketing_stop(person: Person) -> None:
    person.tells_meta("stop")

    person.tells_meta("resume")

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "meta_resume", "meta")


def test_metas_resume_does_not_undo_a_stop_keyword(person: Person) -> None:
    person.writes("STOP")

    person.tells_meta("resume")

    assert person.contact()["optedOut"] is True


def test_a_131050_failure_opts_the_contact_out(person: Person) -> None:
    person.fails(MARKETING_STOP)

    contact = person.contact()
    assert (contact["optedOut"], contact["optedOutReason"]) == (
        True,
        "meta_marketing_stop",
    )


def test_writing_again_clears_a_131050_opt_out(person: Person) -> None:
    person.fails(MARKETING_STOP)

    person.writes("Hi, is the sale still on?")

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "contact_wrote", "rule")


def test_start_is_writing_again_to_a_131050_opt_out(person: Person) -> None:
    person.fails(MARKETING_STOP)

    person.writes("START")

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "contact_wrote", "rule")


# -- the failure streak -----------------------------------------------------


def test_three_undeliverable_sends_make_the_contact_inactive(
    person: Person,
) -> None:
    person.fails(UNDELIVERABLE, times=3)

    contact = person.contact()
    assert (contact["inactive"], contact["inactiveReason"]) == (
        True,
        "undeliverable_repeatedly",
    )
    assert contact["failureStreak"] == 3


def test_two_undeliverable_sends_leave_the_contact_active(person: Person) -> None:
    person.fails(UNDELIVERABLE, times=2)

    contact = person.contact()
    assert (contact["inactive"], contact["failureStreak"]) == (False, 2)


def test_a_delivery_between_failures_resets_the_streak(person: Person) -> None:
    person.fails(UNDELIVERABLE, times=2)
    person.is_sent_to("delivered")

    person.fails(UNDELIVERABLE)

    contact = person.contact()
    assert (contact["inactive"], contact["failureStreak"]) == (False, 1)


def test_a_delivery_makes_an_inactive_contact_active_again(person: Person) -> None:
    person.fails(UNDELIVERABLE, times=3)

    person.is_sent_to("delivered")

    assert person.contact()["inactive"] is False
    assert person.latest_change() == ("inactive", False, "delivered", "rule")


def test_the_marketing_cap_131049_never_counts_toward_inactive(
    person: Person,
) -> None:
    person.fails(MARKETING_CAP, times=3)

    contact = person.contact()
    assert (contact["inactive"], contact["failureStreak"]) == (False, 0)


# -- agents -----------------------------------------------------------------


def test_start_does_not_undo_an_agents_opt_out(person: Person) -> None:
    person.agent(SET_FLAG)

    person.writes("START")

    assert person.contact()["optedOut"] is True
    assert person.latest_change() == ("opted_out", True, "agent_set", "agent")


def test_a_new_stop_opts_out_again_after_an_agent_cleared_it(
    person: Person,
) -> None:
    person.writes("STOP")
    person.agent(CLEAR_FLAG)

    person.writes("STOP")

    assert person.contact()["optedOut"] is True
    assert person.latest_change() == ("opted_out", True, "stop_keyword", "rule")
