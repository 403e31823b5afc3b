"""SQL over what Meta said about templates, numbers and accounts.

metrics.account_events keeps every template, quality and account update
(see eventlog). A campaign's warnings need only the latest of each kind
of event; the queries here read those, and the business numbers' display
numbers that quality updates are routed by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import sql

from services.metrics.ledger import Conn

AccountKind = Literal["template_status", "phone_quality", "account_update"]

# What each kind of event is about, in its payload: events about one
# subject are told apart from those about another.
_SUBJECTS: dict[AccountKind, str] = {
    "template_status": "language",
    "phone_quality": "display_phone_number",
    "account_update": "",
}


@dataclass(frozen=True, slots=True)
class LatestEvent:
    """The latest event of one name about one subject, and how many came."""

    subject: str
    event: str
    occurred_at: datetime
    payload: dict[str, Any]
    seen: int


async def latest_events(
    conn: Conn,
    workspace_id: str,
    kind: AccountKind,
    waba_id: str,
    template_name: str = "",
) -> list[LatestEvent]:
    """Per subject and event name, the latest such event of the WABA.

    An empty waba_id reads every WABA of the workspace. Equal times are
    told apart by the fingerprint, never by the order of arrival.
    """
    conditions = [
        sql.SQL("workspace_id = %(workspace)s"),
        sql.SQL("kind = %(kind)s"),
    ]
    if waba_id:
        conditions.append(sql.SQL("waba_id = %(waba)s"))
    if kind == "template_status":
        conditions.append(sql.SQL("payload ->> 'template_name' = %(template)s"))
    statement = sql.SQL(
        """
        SELECT DISTINCT ON (subject, event)
               subject, event, occurred_at, payload, seen
        FROM (
            SELECT coalesce(payload ->> %(subject)s, '') AS subject,
                   coalesce(payload ->> 'event', '') AS event,
                   occurred_at, payload, fingerprint,
                   count(*) OVER (PARTITION BY
                       payload ->> %(subject)s, payload ->> 'event') AS seen
            FROM metrics.account_events
            WHERE {conditions}
        ) AS e
        ORDER BY subject, event, occurred_at DESC, fingerprint DESC
        """
    ).format(conditions=sql.SQL(" AND ").join(conditions))
    cursor = await conn.execute(
        statement,
        {
            "workspace": workspace_id,
            "kind": kind,
            "waba": waba_id,
            "template": template_name,
            "subject": _SUBJECTS[kind],
        },
    )
    return [LatestEvent(**row) for row in await cursor.fetchall()]


async def register_display_number(
    conn: Conn, workspace_id: str, phone_number_id: str, display: str
) -> None:
    """Remember the number's display number; the latest given wins."""
    await conn.execute(
        """
        INSERT INTO metrics.business_numbers
            (phone_number_id, workspace_id, display_phone_number)
        VALUES (%s, %s, %s)
        ON CONFLICT (phone_number_id) DO UPDATE SET
            display_phone_number = excluded.display_phone_number,
            updated_at = now()
        WHERE business_numbers.display_phone_number
              <> excluded.display_phone_number
        """,
        [phone_number_id, workspace_id, display],
    )


async def display_number(conn: Conn, phone_number_id: str) -> str:
    """The number's display number; empty when not known."""
    cursor = await conn.execute(
        "SELECT display_phone_number FROM metrics.business_numbers"
        " WHERE phone_number_id = %s",
        [phone_number_id],
    )
    row = await cursor.fetchone()
    return str(row["display_phone_number"]) if row else ""


async def numbers_in_waba(conn: Conn, workspace_id: str, waba_id: str) -> set[str]:
    """The phone_number_ids the workspace's campaigns send from in the WABA."""
    cursor = await conn.execute(
        "SELECT DISTINCT phone_number_id FROM metrics.campaigns"
        " WHERE workspace_id = %s AND waba_id = %s",
        [workspace_id, waba_id],
    )
    return {row["phone_number_id"] for row in await cursor.fetchall()}
