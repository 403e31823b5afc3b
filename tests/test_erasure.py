"""A contact's whole story in its history, and its erasure.

eraseContact leaves the number in no table and no Redis key, and the
campaign counts as they were.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from typing import Any

import orjson
import psycopg
import pytest
import redis
from psycopg import sql

from tests.person import BusinessNumber, Person
from tests.sender import DISPLAY_NUMBER, PHONE_NUMBER_ID, WABA_ID, WORKSPACE
from tests.stack import SERVICES, Servers, Stack
from xobito import webhooks
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.contacts.v1 import contacts_pb2_grpc
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

PHONE = "16505550188"
NAME = "Ana Erasmus"
OTHER = "16505550189"
WAMID = "wamid.erasure-1"
OTHER_WAMID = "wamid.erasure-2"
PARKED_WAMID = "wamid.erasure-parked"
NOWHERE = "100000000000999"  # a business number of no workspace
SENT_AT = 1772445600  # 2026-03-02T10:00:00Z

ERASE = """
mutation ($phone: String!) {
  eraseContact(phone: $phone) {
    __typename
    ... on ContactErased { phone rowsErased }
  }
}
"""

SYSTEM_SCHEMAS = ["pg_catalog", "information_schema", "pg_toast"]


def where_the_number_is(servers: Servers, phone: str) -> list[str]:
    """Every text or JSON column of every schema, and every Redis key or
    value, that holds the phone."""
    found = []
    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name"
            " FROM information_schema.columns"
            " JOIN information_schema.tables USING (table_schema, table_name)"
            " WHERE table_type = 'BASE TABLE'"
            " AND NOT table_schema = ANY(%s)"
            " AND data_type IN ('text', 'character varying', 'jsonb', 'json',"
            " 'ARRAY', 'character')",
            [SYSTEM_SCHEMAS],
        ).fetchall()
        for schema, table, column in columns:
            query = sql.SQL("SELECT count(*) FROM {} WHERE {}::text LIKE %s").format(
                sql.Identifier(schema, table), sql.Identifier(column)
            )
            row = conn.execute(query, [f"%{phone}%"]).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}.{column}")

    client = redis.Redis.from_url(servers.valkey.url, decode_responses=True)
    for key in client.scan_iter():
        if phone in key or phone in repr(_redis_value(client, key)):
            found.append(f"redis {key}")
    return found


def _redis_value(client: redis.Redis, key: str) -> Any:
    kind = client.type(key)
    readers = {
        "string": client.get,
        "hash": client.hgetall,
        "list": lambda k: client.lrange(k, 0, -1),
        "set": client.smembers,
        "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        "stream": lambda k: client.xrange(k),
    }
    return readers[kind](key) if kind in readers else None


def _campaign(stack: Stack) -> str:
    """A campaign that messaged PHONE (named) and OTHER."""
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Erasure",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[
                    mpb.Recipient(phone=PHONE, name=NAME),
                    mpb.Recipient(phone=OTHER, name="Bo"),
                ],
            ),
            timeout=10,
        )
        sends = [
            mpb.Send(phone=PHONE, wamid=WAMID),
            mpb.Send(phone=OTHER, wamid=OTHER_WAMID),
        ]
        for send in sends:
            send.sent_at.FromSeconds(SENT_AT)
        metrics.RecordSends(
            mpb.RecordSendsRequest(campaign_id=campaign.id, sends=sends), timeout=10
        )
    return str(campaign.id)


def _parked_failure() -> dict[str, Any]:
    """A failed status of a message no send has brought yet, quoting PHONE."""
    failure = webhooks.status(
        PARKED_WAMID, "failed", SENT_AT + 7, PHONE, error_code=131026
    )
    failure["errors"][0]["error_data"] = {"details": f"+{PHONE} is not on WhatsApp"}
    return failure


def _story(stack: Stack, phone_number_id: str = PHONE_NUMBER_ID) -> None:
    """PHONE's message is read, they write, then say STOP; a failure of a
    message whose send is not recorded yet waits for it."""
    body = webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=phone_number_id,
        display_phone_number=DISPLAY_NUMBER,
        contacts=[{"profile": {"name": NAME}, "wa_id": PHONE}],
        statuses=[
            webhooks.status(WAMID, "delivered", SENT_AT + 5, PHONE),
            webhooks.status(WAMID, "read", SENT_AT + 9, PHONE),
            webhooks.status(OTHER_WAMID, "delivered", SENT_AT + 5, OTHER),
            _parked_failure(),
        ],
        messages=[
            webhooks.text_message(
                f"wamid.in-{phone_number_id}-1",
                PHONE,
                SENT_AT + 60,
                f"call me on +{PHONE}",
                context_wamid=WAMID,
                business_number=DISPLAY_NUMBER,
            ),
            webhooks.text_message(
                f"wamid.in-{phone_number_id}-2", PHONE, SENT_AT + 120, "STOP"
            ),
        ],
    )
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text


def _counters(stack: Stack, campaign_id: str) -> mpb.Campaign:
    with stack.channel("metrics") as channel:
        return metrics_pb2_grpc.MetricsServiceStub(channel).GetCampaign(
            mpb.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
            timeout=10,
        )


def _sendability(stack: Stack, phone: str) -> cpb.Sendability:
    with stack.channel("contacts") as channel:
        reply = contacts_pb2_grpc.ContactsServiceStub(channel).FilterSendable(
            cpb.FilterSendableRequest(workspace_id=WORKSPACE, phones=[phone]),
            timeout=10,
        )
    return reply.results[0]


def _erase(stack: Stack, api_key: str, phone: str = PHONE) -> dict[str, Any]:
    data = stack.graphql(ERASE, api_key, phone=phone)
    erased: dict[str, Any] = data["eraseContact"]
    return erased


@pytest.fixture
def story(stack: Stack, clean: None) -> str:
    """PHONE's whole story in `test`, and in events of no workspace."""
    campaign_id = _campaign(stack)
    _story(stack)
    _story(stack, phone_number_id=NOWHERE)
    return campaign_id


@pytest.fixture(scope="module")
def other_key(stack: Stack) -> str:
    """A key of the workspace `other`, made with the services' settings."""
    out = subprocess.run(
        [sys.executable, "-m", "xobito", "apikey", "create", "--workspace", "other"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_search_finds_the_number_before_erasure(
    stack: Stack, servers: Servers, story: str
) -> None:
    found = where_the_number_is(servers, PHONE)

    assert {
        "metrics.recipients.phone",
        "metrics.status_events.detail",
        "contacts.contacts.phone",
        "contacts.messages.text",
        "ingest.unroutable_events.payload",
    } <= set(found)


def test_no_table_or_key_holds_the_number_after_erasure(
    stack: Stack, servers: Servers, api_key: str, story: str
) -> None:
    erased = _erase(stack, api_key)

    assert erased["__typename"] == "ContactErased"
    assert erased["rowsErased"] > 0
    assert where_the_number_is(servers, PHONE) == []
    assert where_the_number_is(servers, NAME) == []


def test_no_log_line_of_a_service_quotes_the_number_or_the_name(
    stack: Stack, api_key: str, story: str
) -> None:
    _erase(stack, api_key)

    for service in SERVICES:
        log = stack.log_path(service).read_text()
        assert PHONE not in log, service
        assert NAME not in log, service


def test_erasure_keeps_the_campaign_counters(
    stack: Stack, api_key: str, story: str
) -> None:
    before = _counters(stack, story)

    _erase(stack, api_key)

    after = _counters(stack, story)
    assert after.counters == before.counters
    assert after.recipient_total == before.recipient_total
    assert (after.counters.read, after.counters.replied) == (1, 1)


def test_an_erased_number_that_opted_out_is_still_refused(
    stack: Stack, api_key: str, story: str
) -> None:
    _erase(stack, api_key)

    result = _sendability(stack, f"+{PHONE}")

    assert (result.sendable, result.reason) == (False, "opted_out")
    assert _sendability(stack, OTHER).sendable


def test_erasing_twice_erases_nothing_more(
    stack: Stack, servers: Servers, api_key: str, story: str
) -> None:
    _erase(stack, api_key)

    again = _erase(stack, api_key)

    assert again == {"__typename": "ContactErased", "phone": PHONE, "rowsErased": 0}
    assert where_the_number_is(servers, PHONE) == []


def test_another_workspace_erases_nothing_of_this_one(
    stack: Stack, servers: Servers, other_key: str, story: str
) -> None:
    _erase(stack, other_key)

    found = set(where_the_number_is(servers, PHONE))

    # Events that route to no workspace: any workspace's erasure removes them.
    assert "ingest.unroutable_events.payload" not in found
    assert {
        "metrics.recipients.phone",
        "metrics.inbound_messages.phone",
        "contacts.contacts.phone",
        "contacts.messages.text",
    } <= found


# -- what ingest kept: each workspace erases its own ------------------------

HOME = BusinessNumber(WORKSPACE, "100000000000086", "200000000000086", "")
ELSEWHERE = BusinessNumber("other", "100000000000087", "200000000000087", "")
LATER = BusinessNumber(WORKSPACE, "100000000000088", "200000000000088", "")


def _unreadable_status(person: Person) -> None:
    """A webhook quoting the person, whose status ingest cannot read (no id)."""
    status = {
        "status": "delivered",
        "timestamp": str(person.now()),
        "recipient_id": person.phone,
    }
    person.post(
        contacts=[{"profile": {"name": NAME}, "wa_id": person.phone}],
        statuses=[status],
    )


def _kept_by_ingest(servers: Servers, phone: str) -> list[tuple[str, str]]:
    """(table, business number) of each row of ingest that quotes phone."""
    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        letters = conn.execute(
            "SELECT element->>'body' FROM ingest.dead_letters"
            " WHERE element::text LIKE %s",
            [f"%{phone}%"],
        ).fetchall()
        unroutable = conn.execute(
            "SELECT route_key FROM ingest.unroutable_events"
            " WHERE payload::text LIKE %s",
            [f"%{phone}%"],
        ).fetchall()
    numbers = [
        orjson.loads(body)["entry"][0]["changes"][0]["value"]["metadata"][
            "phone_number_id"
        ]
        for (body,) in letters
    ]
    return sorted(
        [("dead_letters", number) for number in numbers]
        + [("unroutable_events", key) for (key,) in unroutable]
    )


def test_a_dead_letter_is_erased_only_by_the_workspace_of_its_number(
    stack: Stack, servers: Servers, api_key: str, other_key: str, clean: None
) -> None:
    HOME.campaign(stack)
    ELSEWHERE.campaign(stack)
    at_home = Person(stack, api_key, PHONE, HOME)
    elsewhere = Person(stack, other_key, PHONE, ELSEWHERE)
    _unreadable_status(at_home)
    _unreadable_status(elsewhere)

    elsewhere.is_erased()
    kept = _kept_by_ingest(servers, PHONE)
    at_home.is_erased()

    assert kept == [("dead_letters", HOME.phone_number_id)]
    assert _kept_by_ingest(servers, PHONE) == []


def test_an_unroutable_event_is_the_workspace_its_number_belongs_to_now(
    stack: Stack, servers: Servers, api_key: str, other_key: str, clean: None
) -> None:
    person = Person(stack, api_key, PHONE, LATER)
    person.writes("hello")  # before any campaign names the number
    LATER.campaign(stack)

    _erase(stack, other_key)
    kept = _kept_by_ingest(servers, PHONE)
    _erase(stack, api_key)

    assert kept == [("unroutable_events", LATER.phone_number_id)]
    assert _kept_by_ingest(servers, PHONE) == []


def test_a_malformed_phone_is_refused(stack: Stack, api_key: str) -> None:
    erased = _erase(stack, api_key, phone="not a phone")

    assert erased["__typename"] == "InvalidPhoneError"


HISTORY = """
query ($phone: String!) {
  contact(phone: $phone) {
    history(first: 10) {
      edges { node {
        kind wamid text campaignName templateName status timeline { status }
      } }
    }
  }
}
"""


def test_the_history_tells_the_whole_story_newest_first(
    stack: Stack, api_key: str, story: str
) -> None:
    data = stack.graphql(HISTORY, api_key, phone=PHONE)

    nodes = [edge["node"] for edge in data["contact"]["history"]["edges"]]
    assert [(node["kind"], node["wamid"]) for node in nodes] == [
        ("flag_change", None),
        ("inbound_message", f"wamid.in-{PHONE_NUMBER_ID}-2"),
        ("inbound_message", f"wamid.in-{PHONE_NUMBER_ID}-1"),
        ("campaign_message", WAMID),
    ]
    assert nodes[-1]["campaignName"] == "Erasure"
    assert nodes[-1]["templateName"] == "spring_sale_2026"
    assert nodes[-1]["status"] == "READ"
    assert nodes[-1]["timeline"] == [{"status": "DELIVERED"}, {"status": "READ"}]


def test_an_erased_contact_has_no_history_left(
    stack: Stack, api_key: str, story: str
) -> None:
    _erase(stack, api_key)

    assert stack.graphql(HISTORY, api_key, phone=PHONE)["contact"] is None


def test_another_workspace_sees_none_of_the_sends(stack: Stack, story: str) -> None:
    with stack.channel("metrics") as channel:
        reply = metrics_pb2_grpc.MetricsServiceStub(channel).ListContactSends(
            mpb.ListContactSendsRequest(workspace_id="other", phone=PHONE),
            timeout=10,
        )

    assert list(reply.sends) == []


# -- an erased number that comes back ---------------------------------------

RETURNING = BusinessNumber(WORKSPACE, "100000000000085", "200000000000085", "")
CLEAR_OPTED_OUT = """
mutation ($phone: String!) {
  clearContactFlag(phone: $phone, flag: OPTED_OUT, agent: "ana") { __typename }
}
"""
_returning = itertools.count(1)


@pytest.fixture
def person(stack: Stack, api_key: str) -> Person:
    """A new phone of `test`, which will be erased and come back."""
    RETURNING.campaign(stack)
    return Person(stack, api_key, f"1650557{next(_returning):04d}", RETURNING)


def test_an_erased_number_that_stopped_is_opted_out_when_it_writes_again(
    person: Person,
) -> None:
    person.writes("STOP")
    person.is_erased()

    person.writes("Hola, ¿siguen las ofertas?")

    contact = person.contact()
    assert (contact["optedOut"], contact["optedOutReason"]) == (True, "stop_keyword")
    assert person.sendability() == (False, "opted_out")


def test_the_flag_an_erased_number_kept_is_in_its_flag_history(
    person: Person,
) -> None:
    person.writes("STOP")
    person.is_erased()

    person.writes("hello again")

    assert person.latest_change() == ("opted_out", True, "stop_keyword", "rule")


def test_start_lifts_the_stop_an_erased_number_kept(person: Person) -> None:
    person.writes("STOP")
    person.is_erased()

    person.writes("START")

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "start_keyword", "rule")
    assert person.sendability() == (True, "")


def test_writing_again_lifts_metas_opt_out_an_erased_number_kept(
    person: Person,
) -> None:
    person.tells_meta("stop")
    person.is_erased()

    person.writes("Is the sale still on?")

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "contact_wrote", "rule")
    assert person.sendability() == (True, "")


def test_metas_resume_lifts_metas_opt_out_an_erased_number_kept(
    person: Person,
) -> None:
    person.tells_meta("stop")
    person.is_erased()

    person.tells_meta("resume")

    assert person.contact()["optedOut"] is False
    assert person.sendability() == (True, "")


def test_an_agent_clears_the_opt_out_an_erased_number_kept(person: Person) -> None:
    person.writes("STOP")
    person.is_erased()

    person.agent(CLEAR_OPTED_OUT)

    assert person.contact()["optedOut"] is False
    assert person.latest_change() == ("opted_out", False, "agent_cleared", "agent")
    assert person.sendability() == (True, "")


def test_an_erased_inactive_number_that_writes_stays_inactive_until_a_delivery(
    person: Person,
) -> None:
    person.fails(131026, times=3)
    person.is_erased()

    person.writes("I have WhatsApp now")
    kept = (person.contact()["inactive"], person.sendability())
    person.is_sent_to("delivered")

    assert kept == (True, (False, "inactive"))
    assert person.contact()["inactive"] is False
    assert person.sendability() == (True, "")


def test_an_erased_number_without_flags_comes_back_sendable(person: Person) -> None:
    person.writes("hello")
    person.is_erased()

    person.writes("hello again")

    assert person.contact()["optedOut"] is False
    assert person.sendability() == (True, "")
