"""Every contacts rule, from signed webhooks to the GraphQL contact.

Each test is a person of its own (a new phone) writing to, or being sent
to from, a business number of the workspace `test`, so the tests need no
clean slate. Events carry increasing times, all after the moment they
are posted: the rules compare the times of events, not of arrivals.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

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

SET_INACTIVE = """
mutation ($phone: String!) {
  setContactFlag(phone: $phone, flag: INACTIVE, agent: "ana") { __typename }
}
"""

CLEAR_INACTIVE = """
mutation ($phone: String!) {
  clearContactFlag(phone: $phone, flag: INACTIVE, agent: "ana") { __typename }
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
INVALID_NUMBER = 131009
MARKETING_STOP = 131050

# Failures that say the number cannot receive.
NOT_RECEIVING = {"not-on-whatsapp": UNDELIVERABLE, "invalid-number": INVALID_NUMBER}

# Failures of the business, the template or the moment: never the number's.
NOT_THE_NUMBERS = {
    "marketing-cap": 131049,
    "rate-limit": 130429,
    "pair-rate-limit": 131056,
    "template-missing": 132001,
    "template-parameters": 132000,
}

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


def test_a_stop_delivered_after_the_start_written_later_opts_nobody_out(
    person: Person,
) -> None:
    stop_written_at = person.now()
    person.writes("START")

    person.writes("STOP", at=stop_written_at)

    assert person.contact()["optedOut"] is False


def test_a_start_dated_years_ahead_does_not_outlive_a_later_stop(
    person: Person,
) -> None:
    # Taken as written when it arrived, not five years from now.
    person.writes("START", at=person.now() + 5 * 365 * 86_400)

    person.writes("STOP")

    assert person.contact()["optedOut"] is True
    assert person.latest_change() == ("opted_out", True, "stop_keyword", "rule")


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


def test_a_delivery_does_not_undo_metas_marketing_stop(person: Person) -> None:
    person.tells_meta("stop")

    person.is_sent_to("delivered")
    person.is_sent_to("read")

    assert person.contact()["optedOut"] is True


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


@pytest.mark.parametrize("code", NOT_RECEIVING.values(), ids=list(NOT_RECEIVING))
def test_three_undeliverable_sends_make_the_contact_inactive(
    person: Person, code: int
) -> None:
    person.fails(code, times=3)

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


@pytest.mark.parametrize("code", NOT_THE_NUMBERS.values(), ids=list(NOT_THE_NUMBERS))
def test_a_failure_that_is_not_the_numbers_never_counts_toward_inactive(
    person: Person, code: int
) -> None:
    person.fails(code, times=3)

    contact = person.contact()
    assert (contact["inactive"], contact["failureStreak"]) == (False, 0)


# -- sends Meta refused at the send call -------------------------------------


@pytest.mark.parametrize("code", NOT_RECEIVING.values(), ids=list(NOT_RECEIVING))
def test_three_refused_sends_make_the_contact_inactive(
    person: Person, code: int
) -> None:
    for _ in range(3):
        person.is_refused_at_send(code)

    contact = person.contact()
    assert (contact["inactive"], contact["inactiveReason"]) == (
        True,
        "undeliverable_repeatedly",
    )
    assert contact["failureStreak"] == 3
    assert person.sendability() == (False, "inactive")


def test_refused_sends_and_failed_statuses_make_one_streak(person: Person) -> None:
    person.fails(UNDELIVERABLE, times=2)

    person.is_refused_at_send(INVALID_NUMBER)

    contact = person.contact()
    assert (contact["inactive"], contact["failureStreak"]) == (True, 3)


def test_a_refused_send_recorded_twice_counts_once(person: Person) -> None:
    campaign_id = person.is_refused_at_send(UNDELIVERABLE)

    person.is_refused_at_send(UNDELIVERABLE, campaign_id)

    assert person.contact()["failureStreak"] == 1


def test_a_delivery_resets_a_streak_of_refused_sends(person: Person) -> None:
    person.is_refused_at_send(UNDELIVERABLE)
    person.is_refused_at_send(UNDELIVERABLE)
    person.is_sent_to("delivered")

    person.is_refused_at_send(UNDELIVERABLE)

    contact = person.contact()
    assert (contact["inactive"], contact["failureStreak"]) == (False, 1)


def test_a_send_refused_as_marketing_stopped_opts_the_contact_out(
    person: Person,
) -> None:
    person.is_refused_at_send(MARKETING_STOP)

    contact = person.contact()
    assert (contact["optedOut"], contact["optedOutReason"]) == (
        True,
        "meta_marketing_stop",
    )


@pytest.mark.parametrize("code", NOT_THE_NUMBERS.values(), ids=list(NOT_THE_NUMBERS))
def test_a_refused_send_that_is_not_the_numbers_never_counts(
    person: Person, code: int
) -> None:
    person.writes("hello")

    for _ in range(3):
        person.is_refused_at_send(code)

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


def test_writing_again_does_not_undo_an_agents_opt_out(person: Person) -> None:
    person.agent(SET_FLAG)

    person.writes("Hi, is the sale still on?")
    person.tells_meta("resume")

    assert person.contact()["optedOut"] is True
    assert person.latest_change() == ("opted_out", True, "agent_set", "agent")


def test_a_delivery_does_not_lift_an_agents_inactive_flag(person: Person) -> None:
    person.agent(SET_INACTIVE)

    person.is_sent_to("delivered")

    assert person.contact()["inactive"] is True
    assert person.latest_change() == ("inactive", True, "agent_set", "agent")


def test_the_streak_does_not_undo_an_agents_clearing_of_inactive(
    person: Person,
) -> None:
    person.fails(UNDELIVERABLE, times=3)
    person.agent(CLEAR_INACTIVE)

    person.fails(UNDELIVERABLE, times=3)
    person.is_refused_at_send(UNDELIVERABLE)

    assert person.contact()["inactive"] is False
    assert person.latest_change() == ("inactive", False, "agent_cleared", "agent")


# -- the campaign's optedOut counter ----------------------------------------

OPT_OUTS = {
    "stop-keyword": lambda person: person.writes("STOP"),
    "stop-button": Person.taps_stop_promotions,
    "metas-marketing-stop": lambda person: person.tells_meta("stop"),
}


@pytest.mark.parametrize("opt_out", OPT_OUTS.values(), ids=list(OPT_OUTS))
def test_an_opt_out_after_the_campaign_message_counts_in_opted_out(
    person: Person, opt_out: Callable[[Person], None]
) -> None:
    campaign_id = person.receives_campaign()

    opt_out(person)

    assert person.counters(campaign_id)["optedOut"] == 1


def test_a_sentence_with_stop_in_it_is_no_opt_out_in_the_counters(
    person: Person,
) -> None:
    campaign_id = person.receives_campaign()

    person.writes("don't stop")

    counters = person.counters(campaign_id)
    assert (counters["optedOut"], counters["replied"]) == (0, 1)
