"""Erasing a number from what ingest keeps: unroutable events, dead letters.

A row is erased for the workspace it belongs to. Its parts (the event of
an unroutable row, each event of a batch a service refused, each change
of a webhook body kept whole) carry their workspace or name a business
number or a WABA, which routes to a workspace today even when it did not
when the row was kept. The parts that quote the number say whose the
row is; another workspace's erasure leaves it.

A row whose parts quoting the number route to no workspace (truly
unroutable, or unreadable) is erased for any workspace that asks, since
nobody could ever erase it otherwise and a row that cannot be attributed
is nobody's to keep.

Meta writes numbers as digits, with or without a `+`, so searching the
digits finds both. Rows are deleted whole: they also hold the contact's
profile name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool

from services.ingest.forwarder import DownstreamError
from services.ingest.routing import Resolver, Routes
from xobito.errors import UnavailableError

_QUOTING = {
    "unroutable_events": """
        SELECT id, payload AS kept FROM ingest.unroutable_events
        WHERE payload::text LIKE %s
    """,
    "dead_letters": """
        SELECT id, element AS kept FROM ingest.dead_letters
        WHERE element::text LIKE %s
    """,
}

_DELETES = {
    "unroutable_events": (
        "DELETE FROM ingest.unroutable_events WHERE id = ANY(%s::bigint[])"
    ),
    "dead_letters": "DELETE FROM ingest.dead_letters WHERE id = ANY(%s::bigint[])",
}


@dataclass(frozen=True)
class _Part:
    """A piece of a kept row that one workspace's events came in."""

    quotes_number: bool
    workspace_id: str = ""
    phone_number_id: str = ""
    waba_id: str = ""

    def owner(self, routes: Routes) -> str:
        """The workspace the part belongs to; empty when none."""
        return (
            self.workspace_id
            or routes.phone_numbers.get(self.phone_number_id, "")
            or routes.wabas.get(self.waba_id, "")
        )


@dataclass(frozen=True)
class _Row:
    table: str
    id: int
    parts: list[_Part]

    def erased_for(self, workspace_id: str, routes: Routes) -> bool:
        owners = {part.owner(routes) for part in self.parts if part.quotes_number}
        owners.discard("")
        return not owners or workspace_id in owners


class IngestErasure:
    def __init__(self, pool: AsyncConnectionPool[Any], resolve: Resolver) -> None:
        self._pool = pool
        self._resolve = resolve

    async def erase(self, workspace_id: str, phone: str) -> int:
        """Delete the workspace's rows that quote a normalized number.

        Returns how many rows went, counting those of no workspace.
        """
        rows = await self._quoting(phone)
        routes = await self._routes(rows)
        erased = [row for row in rows if row.erased_for(workspace_id, routes)]
        if not erased:
            return 0

        deleted = 0
        async with self._pool.connection() as conn, conn.transaction():
            for table, statement in _DELETES.items():
                ids = [row.id for row in erased if row.table == table]
                if ids:
                    deleted += (await conn.execute(statement, [ids])).rowcount
        return deleted

    async def _quoting(self, phone: str) -> list[_Row]:
        pattern = f"%{phone}%"  # digits only: nothing to escape
        rows = []
        async with self._pool.connection() as conn:
            for table, query in _QUOTING.items():
                cursor = await conn.execute(query, [pattern])
                rows += [
                    _Row(table, row["id"], list(_parts(table, row["kept"], phone)))
                    for row in await cursor.fetchall()
                ]
        return rows

    async def _routes(self, rows: Sequence[_Row]) -> Routes:
        parts = [part for row in rows for part in row.parts if part.quotes_number]
        phone_number_ids = sorted({p.phone_number_id for p in parts} - {""})
        waba_ids = sorted({p.waba_id for p in parts} - {""})
        if not phone_number_ids and not waba_ids:
            return Routes({}, {})
        try:
            return await self._resolve(phone_number_ids, waba_ids)
        except DownstreamError as exc:
            raise UnavailableError(f"routes unknown: {exc}") from exc


def _parts(table: str, kept: Any, phone: str) -> Iterator[_Part]:
    """The parts of a kept row, each saying whether it quotes the phone."""
    if table == "unroutable_events":
        yield _event_part(kept, phone)
    elif isinstance(kept, dict) and set(kept) == {"body"}:
        yield from _body_parts(kept["body"], phone)
    elif isinstance(kept, dict):
        # A refused EventBatch: lists of events, each with its workspace.
        for events in kept.values():
            if isinstance(events, list):
                yield from (_event_part(event, phone) for event in events)


def _event_part(event: Any, phone: str) -> _Part:
    if not isinstance(event, dict):
        return _Part(_quotes(event, phone))
    return _Part(
        _quotes(event, phone),
        workspace_id=_text(event.get("workspace_id")),
        phone_number_id=_text(event.get("phone_number_id")),
        waba_id=_text(event.get("waba_id")),
    )


def _body_parts(body: Any, phone: str) -> Iterator[_Part]:
    """Each change of a webhook body, with its number and its entry's WABA."""
    webhook = _json(body)
    entries = webhook.get("entry") if isinstance(webhook, dict) else None
    if not isinstance(entries, list):
        yield _Part(_quotes(body, phone))
        return
    for entry in entries:
        if not isinstance(entry, dict):
            yield _Part(_quotes(entry, phone))
            continue
        waba_id = _text(entry.get("id"))
        changes = entry.get("changes")
        if not isinstance(changes, list):
            yield _Part(_quotes(entry, phone), waba_id=waba_id)
            continue
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            yield _Part(
                _quotes(change, phone),
                phone_number_id=_text(
                    metadata.get("phone_number_id")
                    if isinstance(metadata, dict)
                    else ""
                ),
                waba_id=waba_id,
            )


def _json(text: Any) -> Any:
    """The JSON value of text; None when it is none."""
    if not isinstance(text, str):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        # What orjson refuses and the webhook parser took (lone surrogates).
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _quotes(value: Any, phone: str) -> bool:
    if isinstance(value, str):
        return phone in value
    return phone in json.dumps(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
