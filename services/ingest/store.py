"""SQL of ingest's own tables: unroutable events and dead letters."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from google.protobuf import json_format
from psycopg_pool import AsyncConnectionPool

from services.ingest.routing import Unroutable


@dataclass(frozen=True)
class DeadLetter:
    """A part of a signed webhook that nothing else recorded."""

    kind: str
    reason: str
    element: bytes  # JSON text: the webhook body or the refused batch


@dataclass(frozen=True)
class UnroutableRow:
    id: int
    kind: str
    route_key: str
    received_at: datetime


# How long a webhook waits for a free connection before it is answered
# 503 (Meta retries it) rather than held open while the database is down.
_WAIT_FOR_CONNECTION_S = 5.0

# An escaped NUL: a backslash-u0000 not itself preceded by an odd run of
# backslashes (then it would be a literal backslash and text).
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")

_INSERT_UNROUTABLE = """
INSERT INTO ingest.unroutable_events
    (kind, route_key, received_at, payload, dedupe_key)
SELECT kind, route_key, %s, payload::jsonb, dedupe_key
FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[])
    AS t(kind, route_key, payload, dedupe_key)
ON CONFLICT (dedupe_key) DO NOTHING
"""

# A letter kept before is marked received again: a replay of it that did
# not take (see xobito.deadletters) can tell.
_INSERT_DEAD_LETTERS = """
INSERT INTO ingest.dead_letters
    (kind, reason, received_at, element, dedupe_key)
SELECT kind, reason, %s, element::jsonb, dedupe_key
FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[])
    AS t(kind, reason, element, dedupe_key)
ON CONFLICT (dedupe_key) DO UPDATE SET last_received_at = EXCLUDED.received_at
"""

_NEWEST_UNROUTABLE = """
SELECT id, kind, route_key, received_at
FROM ingest.unroutable_events
ORDER BY received_at DESC, id DESC
LIMIT %s
"""


class IngestStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def record(
        self,
        unroutable: Sequence[Unroutable],
        dead_letters: Sequence[DeadLetter],
        received_at: datetime,
    ) -> None:
        """Keep both lists in one transaction; rows seen before are skipped."""
        if not unroutable and not dead_letters:
            return
        connecting = self._pool.connection(timeout=_WAIT_FOR_CONNECTION_S)
        async with connecting as conn, conn.pipeline():
            if unroutable:
                await conn.execute(
                    _INSERT_UNROUTABLE,
                    [received_at, *_unroutable_columns(unroutable)],
                )
            if dead_letters:
                await conn.execute(
                    _INSERT_DEAD_LETTERS,
                    [received_at, *_dead_letter_columns(dead_letters)],
                )

    async def newest_unroutable(
        self,
        limit: int,
    ) -> tuple[list[UnroutableRow], int]:
        """The newest limit unroutable events, and how many there are."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_NEWEST_UNROUTABLE, [limit])
            rows = [UnroutableRow(**row) for row in await cursor.fetchall()]
            cursor = await conn.execute(
                "SELECT count(*) AS total FROM ingest.unroutable_events"
            )
            counted = await cursor.fetchone()
        return rows, int(counted["total"]) if counted else 0


def _unroutable_columns(
    events: Sequence[Unroutable],
) -> tuple[list[str], list[str], list[str], list[bytes]]:
    kinds, keys, payloads, digests = [], [], [], []
    for item in events:
        serialized = item.event.SerializeToString(deterministic=True)
        payload = json_format.MessageToDict(
            item.event, preserving_proto_field_name=True
        )
        kinds.append(item.kind)
        keys.append(item.route_key)
        payloads.append(_storable(orjson.dumps(payload)))
        digests.append(_digest(item.kind.encode(), serialized))
    return kinds, keys, payloads, digests


def _dead_letter_columns(
    letters: Sequence[DeadLetter],
) -> tuple[list[str], list[str], list[str], list[bytes]]:
    kinds, reasons, elements, digests = [], [], [], []
    for letter in letters:
        digest = _digest(letter.kind.encode(), letter.reason.encode(), letter.element)
        if digest in digests:
            continue  # one statement may not update a row twice
        kinds.append(letter.kind)
        reasons.append(letter.reason)
        elements.append(_storable(letter.element))
        digests.append(digest)
    return kinds, reasons, elements, digests


def _storable(json_text: bytes) -> str:
    """JSON text that jsonb takes: an escaped NUL becomes U+FFFD."""
    return _ESCAPED_NUL.sub(rb"\1\\ufffd", json_text).decode()


def _digest(*parts: bytes) -> bytes:
    # Length-prefixed, so that no two different lists of parts collide.
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()
