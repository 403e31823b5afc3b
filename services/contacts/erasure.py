"""Erasing a contact: its number, name, messages and flag history go.

An erased number leaves one row behind, under the marker of the number
(xobito.erasure) instead of the number, with the contact's flags and
nothing else: FilterSendable looks a number up under both, so an
opted-out number stays refused, and a status Meta sends later for a
message sent before the erasure finds the marker and is dropped instead
of bringing the number back. Flag history is deleted, not kept without
the phone: the reasons and notes of an agent may name the person.

A number that becomes a contact again (it writes, Meta reports its
preference, an agent decides on it) takes the marker's flags onto its
new row, and the marker goes: from then on the row is the one truth,
and the rules change its flags as they would any contact's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from xobito import erasure

# The note on the flag changes a marker hands back to its number.
CARRIED_OVER = "kept through the number's erasure"

_LOCK = """
SELECT 1 FROM contacts.contacts
WHERE workspace_id = %s AND phone = %s FOR UPDATE
"""

_DELETE_CHILDREN = [
    "DELETE FROM contacts.messages WHERE workspace_id = %s AND phone = %s",
    "DELETE FROM contacts.flag_changes WHERE workspace_id = %s AND phone = %s",
    "DELETE FROM contacts.undeliverable_sends WHERE workspace_id = %s AND phone = %s",
]

_DELETE_CONTACT = """
DELETE FROM contacts.contacts
WHERE workspace_id = %s AND phone = %s
RETURNING opted_out, opted_out_reason, opted_out_by, opted_out_changed_at,
          inactive, inactive_reason, inactive_by, inactive_changed_at
"""

# A marker met again (the number is erased twice, or came back while
# it was being erased) keeps a flag that either of the two had: refusing
# is the safe side.
_KEEP_MARKER = """
INSERT INTO contacts.contacts AS c
    (workspace_id, phone, opted_out, opted_out_reason, opted_out_by,
     opted_out_changed_at, inactive, inactive_reason, inactive_by,
     inactive_changed_at)
VALUES (%(workspace_id)s, %(marker)s, %(opted_out)s, %(opted_out_reason)s,
        %(opted_out_by)s, %(opted_out_changed_at)s, %(inactive)s,
        %(inactive_reason)s, %(inactive_by)s, %(inactive_changed_at)s)
ON CONFLICT (workspace_id, phone) DO UPDATE SET
    opted_out = c.opted_out OR excluded.opted_out,
    opted_out_reason = CASE WHEN excluded.opted_out
        THEN excluded.opted_out_reason ELSE c.opted_out_reason END,
    opted_out_by = CASE WHEN excluded.opted_out
        THEN excluded.opted_out_by ELSE c.opted_out_by END,
    opted_out_changed_at = CASE WHEN excluded.opted_out
        THEN excluded.opted_out_changed_at ELSE c.opted_out_changed_at END,
    inactive = c.inactive OR excluded.inactive,
    inactive_reason = CASE WHEN excluded.inactive
        THEN excluded.inactive_reason ELSE c.inactive_reason END,
    inactive_by = CASE WHEN excluded.inactive
        THEN excluded.inactive_by ELSE c.inactive_by END,
    inactive_changed_at = CASE WHEN excluded.inactive
        THEN excluded.inactive_changed_at ELSE c.inactive_changed_at END
"""


def _newer_of_each_flag() -> str:
    """SET clauses that keep, of each flag, the change made last."""
    clauses = []
    for flag in ("opted_out", "inactive"):
        newer = (
            f"excluded.{flag}_changed_at > coalesce(c.{flag}_changed_at, '-infinity')"
        )
        for suffix in ("", "_reason", "_by", "_changed_at"):
            column = flag + suffix
            clauses.append(
                f"{column} = CASE WHEN {newer}"
                f" THEN excluded.{column} ELSE c.{column} END"
            )
    return ",\n    ".join(clauses)


# The markers of the numbers a batch names give way to contact rows that
# carry their flags, each flag with a line in the audit trail. A row may
# exist already (the batch that made it ran while the number was being
# erased): of each flag, it keeps the change made last. The audit lines
# refer to rows this very statement inserts; PostgreSQL checks foreign
# keys at its end.
#
# Markers are few, and a batch names most numbers again and again: each
# is looked up through the primary key (a subquery that locks is never
# merged into a join the planner could run as a scan of every contact),
# and the rows found are deleted by their row address.
_CARRY_OVER = f"""
WITH marker AS (
    SELECT k.workspace_id, k.phone, m.*
    FROM unnest(%(workspace_ids)s::text[], %(phones)s::text[],
                %(markers)s::text[]) AS k (workspace_id, phone, marker)
    CROSS JOIN LATERAL (
        SELECT ctid AS row_address,
            opted_out, opted_out_reason, opted_out_by, opted_out_changed_at,
            inactive, inactive_reason, inactive_by, inactive_changed_at
        FROM contacts.contacts
        WHERE workspace_id = k.workspace_id AND phone = k.marker
        FOR UPDATE
    ) AS m
), gone AS (
    DELETE FROM contacts.contacts
    WHERE ctid = ANY(ARRAY(SELECT row_address FROM marker))
), contact AS (
    INSERT INTO contacts.contacts AS c
        (workspace_id, phone, opted_out, opted_out_reason, opted_out_by,
         opted_out_changed_at, inactive, inactive_reason, inactive_by,
         inactive_changed_at)
    SELECT workspace_id, phone, opted_out, opted_out_reason, opted_out_by,
        opted_out_changed_at, inactive, inactive_reason, inactive_by,
        inactive_changed_at
    FROM marker
    ON CONFLICT (workspace_id, phone) DO UPDATE SET
    {_newer_of_each_flag()}
)
INSERT INTO contacts.flag_changes
    (workspace_id, phone, flag, value, reason, set_by, note, at)
SELECT workspace_id, phone, 'opted_out', true, opted_out_reason,
       opted_out_by, %(note)s, coalesce(opted_out_changed_at, now())
FROM marker WHERE opted_out
UNION ALL
SELECT workspace_id, phone, 'inactive', true, inactive_reason,
       inactive_by, %(note)s, coalesce(inactive_changed_at, now())
FROM marker WHERE inactive
"""


_NO_FLAGS = {
    "opted_out": False,
    "opted_out_reason": "",
    "opted_out_by": "",
    "opted_out_changed_at": None,
    "inactive": False,
    "inactive_reason": "",
    "inactive_by": "",
    "inactive_changed_at": None,
}


class ContactErasure:
    """Erases contacts, and names the markers erased numbers live on as."""

    def __init__(self, pool: AsyncConnectionPool[Any], key: str) -> None:
        self._pool = pool
        self._key = key

    def markers(self, phones: Iterable[str]) -> dict[str, str]:
        """Each phone's marker; none while erasure is turned off."""
        if not self._key:
            return {}
        return {phone: erasure.marker(self._key, phone) for phone in phones}

    async def carry_over(
        self, conn: AsyncConnection[Any], keys: Iterable[tuple[str, str]]
    ) -> None:
        """Turn the markers of the (workspace_id, phone) keys into contacts.

        Called in the transaction that is about to make the numbers
        contacts, before it does: the rows it makes start with the flags
        the markers kept, so a number that opted out and was erased is
        still opted out when it comes back, until a rule or an agent
        says otherwise.
        """
        if not self._key:
            return
        found = sorted(set(keys))
        if not found:
            return
        await conn.execute(
            _CARRY_OVER,
            {
                "workspace_ids": [workspace_id for workspace_id, _ in found],
                "phones": [phone for _, phone in found],
                "markers": [erasure.marker(self._key, phone) for _, phone in found],
                "note": CARRIED_OVER,
            },
        )

    async def erase(self, workspace_id: str, phone: str) -> int:
        """Erase the number in the workspace; return the rows it touched."""
        marker = erasure.marker(self._key, phone)
        key = [workspace_id, phone]
        erased = 0

        async with self._pool.connection() as conn, conn.transaction():
            # Locked first, so a batch recording the number waits for us.
            await conn.execute(_LOCK, key)
            for statement in _DELETE_CHILDREN:
                erased += (await conn.execute(statement, key)).rowcount
            cursor = await conn.execute(_DELETE_CONTACT, key)
            flags = await cursor.fetchone()

            if flags is not None:
                erased += 1
            await conn.execute(
                _KEEP_MARKER,
                {
                    "workspace_id": workspace_id,
                    "marker": marker,
                    **(flags or _NO_FLAGS),
                },
            )
        return erased
