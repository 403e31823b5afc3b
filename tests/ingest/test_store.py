from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
import psycopg
import pytest

from services.ingest.routing import Unroutable
from services.ingest.store import DeadLetter, IngestStore
from tests.stack import Servers
from xobito.database import open_pool
from xobito.ingest.v1 import events_pb2

T = TypeVar("T")
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def empty_tables(servers: Servers) -> None:
    with psycopg.connect(servers.postgres.url) as conn:
        conn.execute("TRUNCATE ingest.unroutable_events, ingest.dead_letters")


def with_store(
    servers: Servers,
    action: Callable[[IngestStore], Awaitable[T]],
) -> T:
    async def main() -> T:
        pool = await open_pool(servers.postgres.url, min_size=1, max_size=2)
        try:
            return await action(IngestStore(pool))
        finally:
            await pool.close()

    return asyncio.run(main())


def rows(servers: Servers, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(servers.postgres.url) as conn:
        cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
        query = f"SELECT * FROM ingest.{table} ORDER BY id"
        return cursor.execute(query).fetchall()


def status(wamid: str, phone_number_id: str = "9") -> Unroutable:
    event = events_pb2.StatusEvent(
        phone_number_id=phone_number_id, wamid=wamid, status="delivered"
    )
    event.occurred_at.FromSeconds(1_767_000_000)
    return Unroutable("status", phone_number_id, event)


def test_an_unroutable_event_is_kept_with_its_normalized_payload(
    servers: Servers,
) -> None:
    event = status("wamid.1")

    with_store(servers, lambda store: store.record([event], [], NOON))

    [row] = rows(servers, "unroutable_events")
    assert row["kind"] == "status"
    assert row["route_key"] == "9"
    assert row["received_at"] == NOON
    assert row["payload"] == {
        "phone_number_id": "9",
        "wamid": "wamid.1",
        "status": "delivered",
        "occurred_at": "2025-12-29T09:20:00Z",
    }


def test_the_same_unroutable_event_is_kept_once(servers: Servers) -> None:
    async def twice(store: IngestStore) -> None:
        await store.record([status("wamid.1")], [], NOON)
        await store.record([status("wamid.1")], [], NOON + timedelta(hours=1))

    with_store(servers, twice)

    assert len(rows(servers, "unroutable_events")) == 1


def test_different_unroutable_events_are_each_kept(servers: Servers) -> None:
    events = [status("wamid.1"), status("wamid.2")]

    with_store(servers, lambda store: store.record(events, [], NOON))

    assert len(rows(servers, "unroutable_events")) == 2


def test_the_same_dead_letter_is_kept_once(servers: Servers) -> None:
    letter = DeadLetter("status", "status has no id", b'{"body": "{}"}')

    with_store(servers, lambda store: store.record([], [letter, letter], NOON))

    [row] = rows(servers, "dead_letters")
    assert (row["kind"], row["reason"], row["element"]) == (
        "status",
        "status has no id",
        {"body": "{}"},
    )


def test_a_dead_letter_holding_a_nul_character_is_kept(
    servers: Servers,
) -> None:
    # jsonb refuses \u0000, which JSON allows.
    element = orjson.dumps({"body": "a\x00b"})
    letter = DeadLetter("webhook", "unexpected KeyError", element)

    with_store(servers, lambda store: store.record([], [letter], NOON))

    [row] = rows(servers, "dead_letters")
    assert row["element"] == {"body": "a\ufffdb"}


def test_the_newest_unroutable_events_come_first_with_the_total(
    servers: Servers,
) -> None:
    async def three_then_list(store: IngestStore) -> Any:
        for minute, wamid in enumerate(["wamid.1", "wamid.2", "wamid.3"]):
            at = NOON + timedelta(minutes=minute)
            await store.record([status(wamid)], [], at)
        return await store.newest_unroutable(2)

    newest, total = with_store(servers, three_then_list)

    assert [row.received_at for row in newest] == [
        NOON + timedelta(minutes=2),
        NOON + timedelta(minutes=1),
    ]
    assert total == 3
