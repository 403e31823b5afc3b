from __future__ import annotations

import asyncio

from services.ingest.keywords import (
    KeywordCache,
    Keywords,
    mark,
    unmarked_workspaces,
)
from xobito.ingest.v1 import events_pb2

OWN = {"acme": Keywords(stop=frozenset({"ya no"}), start=frozenset({"de nuevo"}))}


class Contacts:
    """Stands in for ContactsService/GetKeywords."""

    def __init__(self) -> None:
        self.keywords: dict[str, Keywords] = {}
        self.asked: list[str] = []

    async def get_keywords(self, workspace_id: str) -> Keywords:
        self.asked.append(workspace_id)
        return self.keywords.get(workspace_id, Keywords())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def text(
    body: str, workspace_id: str = "acme", *, opt_out: bool = False
) -> events_pb2.InboundMessage:
    return events_pb2.InboundMessage(
        workspace_id=workspace_id, type="text", text=body, opt_out=opt_out
    )


def batch_of(*messages: events_pb2.InboundMessage) -> events_pb2.EventBatch:
    return events_pb2.EventBatch(messages=messages)


def get(cache: KeywordCache, *workspace_ids: str) -> dict[str, Keywords]:
    return asyncio.run(cache.get(set(workspace_ids)))


def test_a_workspace_stop_keyword_marks_an_opt_out() -> None:
    batch = batch_of(text("¡Ya no!"))

    marked = mark(batch, OWN)

    assert marked == 1
    assert batch.messages[0].opt_out is True


def test_a_workspace_start_keyword_marks_an_opt_in() -> None:
    batch = batch_of(text("De nuevo"))

    mark(batch, OWN)

    assert (batch.messages[0].opt_out, batch.messages[0].opt_in) == (False, True)


def test_a_keyword_of_another_workspace_marks_nothing() -> None:
    batch = batch_of(text("ya no", workspace_id="globex"))

    assert mark(batch, OWN) == 0
    assert batch.messages[0].opt_out is False


def test_a_sentence_holding_a_keyword_marks_nothing() -> None:
    batch = batch_of(text("ya no sé qué pedir"))

    assert mark(batch, OWN) == 0


def test_a_button_with_a_keyword_text_is_left_to_the_parser() -> None:
    button = events_pb2.InboundMessage(workspace_id="acme", type="button", text="ya no")

    assert mark(batch_of(button), OWN) == 0


def test_only_unmarked_text_messages_need_their_workspace_keywords() -> None:
    batch = batch_of(
        text("hola", workspace_id="acme"),
        text("STOP", workspace_id="globex", opt_out=True),
        text("unroutable", workspace_id=""),
        events_pb2.InboundMessage(workspace_id="initech", type="image"),
    )

    assert unmarked_workspaces(batch) == {"acme"}


def test_a_batch_of_statuses_needs_no_keywords() -> None:
    batch = events_pb2.EventBatch(
        statuses=[events_pb2.StatusEvent(workspace_id="acme", status="read")]
    )

    assert unmarked_workspaces(batch) == set()


def test_keywords_are_not_asked_again_within_the_ttl() -> None:
    contacts, clock = Contacts(), Clock()
    cache = KeywordCache(contacts.get_keywords, ttl_seconds=30, clock=clock)

    get(cache, "acme")
    clock.now += 29
    get(cache, "acme")

    assert contacts.asked == ["acme"]


def test_a_change_of_keywords_is_seen_after_the_ttl() -> None:
    contacts, clock = Contacts(), Clock()
    cache = KeywordCache(contacts.get_keywords, ttl_seconds=30, clock=clock)
    get(cache, "acme")

    contacts.keywords["acme"] = OWN["acme"]
    clock.now += 30

    assert get(cache, "acme") == OWN


def test_only_the_workspaces_not_remembered_are_asked() -> None:
    contacts = Contacts()
    cache = KeywordCache(contacts.get_keywords, ttl_seconds=30, clock=Clock())
    get(cache, "acme")

    found = get(cache, "acme", "globex")

    assert contacts.asked == ["acme", "globex"]
    assert set(found) == {"acme", "globex"}
