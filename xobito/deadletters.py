"""Dead letters: the parts of signed webhooks that nothing else recorded.

Ingest keeps a webhook's body when it could not read an element of it (a
status without a usable timestamp, say) or when handling it failed, and
a batch that a service refused for good. Each is answered 200, so Meta
never sends it again: these rows are the only copy.

`xobito dead-letters` lists them by kind and reason without their
contents, shows one, and replays bodies once the fault is fixed. A
replay posts the body to ingest again, signed as Meta signs it; the
letter goes once ingest answers 200 without keeping the body again,
under any kind or reason. What the body holds that was recorded before
counts once, as any of Meta's retries does.

Known shortcoming: erasing a number deletes the letters that quote it,
with whatever else their bodies hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from xobito.webhooks import sign


@dataclass(frozen=True)
class Group:
    """The letters of one kind and reason."""

    kind: str
    reason: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class Letter:
    id: int
    kind: str
    reason: str
    received_at: datetime  # when it last came


@dataclass(frozen=True)
class Replayed:
    id: int
    outcome: str
    gone: bool


def groups(conn: psycopg.Connection[Any]) -> list[Group]:
    """Every kind and reason with its count, most letters first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT kind, reason, count(*) AS count,"
            " min(received_at) AS first,"
            " max(coalesce(last_received_at, received_at)) AS last"
            " FROM ingest.dead_letters GROUP BY kind, reason"
            " ORDER BY count DESC, kind, reason"
        )
        return [Group(**row) for row in cur.fetchall()]


def newest(conn: psycopg.Connection[Any], limit: int) -> list[Letter]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, kind, reason,"
            " coalesce(last_received_at, received_at) AS received_at"
            " FROM ingest.dead_letters"
            " ORDER BY coalesce(last_received_at, received_at) DESC, id DESC"
            " LIMIT %s",
            [limit],
        )
        return [Letter(**row) for row in cur.fetchall()]


def element(conn: psycopg.Connection[Any], letter_id: int) -> Any | None:
    """What letter_id keeps: {"body": the webhook's text}, or the refused
    batch; None if there is no such letter."""
    row = conn.execute(
        "SELECT element FROM ingest.dead_letters WHERE id = %s", [letter_id]
    ).fetchone()
    return None if row is None else row[0]


def body_of(kept: Any) -> str | None:
    """The webhook body a letter keeps; None for a refused batch."""
    if isinstance(kept, dict) and isinstance(kept.get("body"), str):
        return str(kept["body"])
    return None


def every_id(conn: psycopg.Connection[Any]) -> list[int]:
    rows = conn.execute("SELECT id FROM ingest.dead_letters ORDER BY id").fetchall()
    return [row[0] for row in rows]


def replay(
    conn: psycopg.Connection[Any],
    letter_ids: Iterable[int],
    url: str,
    app_secret: str,
    client: httpx.Client,
) -> list[Replayed]:
    """Post each letter's body to ingest at url; drop the letters it took."""
    return [_replay_one(conn, i, url, app_secret, client) for i in letter_ids]


def _replay_one(
    conn: psycopg.Connection[Any],
    letter_id: int,
    url: str,
    app_secret: str,
    client: httpx.Client,
) -> Replayed:
    kept = element(conn, letter_id)
    if kept is None:
        return Replayed(letter_id, "no such letter", gone=False)
    text = body_of(kept)
    if text is None:
        return Replayed(letter_id, "a refused batch, not a webhook: kept", gone=False)

    before = _keeping(conn, kept)
    newest = _newest_id(conn)
    body = text.encode()
    try:
        answer = client.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, app_secret),
            },
        )
    except httpx.TransportError as exc:
        return Replayed(letter_id, f"ingest not reached ({exc}): kept", gone=False)
    if answer.status_code != 200:
        return Replayed(
            letter_id, f"ingest answered {answer.status_code}: kept", gone=False
        )

    again = [
        (other, reason)
        for other, (reason, last) in _keeping(conn, kept).items()
        if before.get(other) != (reason, last)
    ]
    # A batch a service refused is kept as the batch, not as the body: any
    # refused since the post may be this body's.
    refused = _refused_batches_since(conn, newest)
    if not again and not refused:
        conn.execute("DELETE FROM ingest.dead_letters WHERE id = %s", [letter_id])
        conn.commit()
        return Replayed(letter_id, "recorded", gone=True)
    if again and all(other != letter_id for other, _ in again):
        # Kept under another reason now: the newer letter stands for it.
        conn.execute("DELETE FROM ingest.dead_letters WHERE id = %s", [letter_id])
        conn.commit()
    reasons = "; ".join(
        f"{reason} (letter {other})" for other, reason in [*again, *refused]
    )
    return Replayed(letter_id, f"kept again by ingest: {reasons}", gone=False)


def _newest_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT coalesce(max(id), 0) FROM ingest.dead_letters"
    ).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def _refused_batches_since(
    conn: psycopg.Connection[Any], newest: int
) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT id, reason FROM ingest.dead_letters"
        " WHERE id > %s AND kind LIKE '%%\\_batch' ORDER BY id",
        [newest],
    ).fetchall()
    conn.commit()
    return [(letter, reason) for letter, reason in rows]


def _keeping(
    conn: psycopg.Connection[Any], kept: dict[str, Any]
) -> dict[int, tuple[str, datetime]]:
    """Each letter holding the body of kept: its reason, when last kept."""
    rows = conn.execute(
        "SELECT id, reason, coalesce(last_received_at, received_at)"
        " FROM ingest.dead_letters WHERE element = %s::jsonb",
        [Jsonb(kept)],
    ).fetchall()
    conn.commit()
    return {letter: (reason, last) for letter, reason, last in rows}
