"""Every contacts rule, from signed webhooks to the GraphQL contact.

Each test is a person of its own (a new phone) writing to, or being sent
to from, a business number of the workspace `test`, so the tests need no
clean slate. Events carry increasing times, all after the moment they
are posted: the rules compare the times of events, not of arrivals.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.person import BusinessNumber, Person
from tests.stack import Stack

NUMBER = BusinessNumber(
    workspace_id="test",
    phone_number_id="100000000000083",
    waba_id="200000000000083",
    display_phone_number="16505559983",
)

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


@pytest.fixture
def person(stack: Stack, api_key: str) -> Iterator[Person]:
    """A new phone, writing to a number a campaign of `test` names."""
    NUMBER.campaign(stack)
    yield Person(stack, api_key, f"1650558{next(_numbers):04d}", NUMBER)


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
