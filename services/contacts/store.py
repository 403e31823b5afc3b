"""PostgreSQL storage of contacts, their messages and their flags.

A batch of events is recorded in one transaction of set-based statements:
the erased numbers it names take back their markers' flags (see erasure),
then one upsert of the contacts it names, one insert of its messages, one of
its undeliverable sends; then the contacts whose flags may change are
read and locked in one query, run through the rules, and written back in
one update and one insert into the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from services.contacts import keywords, rules
from services.contacts.erasure import ContactErasure
from services.contacts.history import (
    AuditEntry,
    Cursor,
    HistoryItem,
    InboundMessage,
)
from services.contacts.keyword_store import keywords_of
from services.contacts.keywords import Keywords
from services.contacts.rules import (
    Contact,
    ContactSignal,
    Decision,
    Flag,
    FlagChange,
    Outcome,
    SendOutcome,
    Streak,
)
from xobito import erasure
from xobito.database import reading

Row = dict[str, Any]
Key = tuple[str, str]


@dataclass
class ContactEvents:
    """What one batch of webhook events says about contacts."""

    messages: list[InboundMessage] = field(default_factory=list)
    signals: list[ContactSignal] = field(default_factory=list)
    outcomes: list[SendOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class Recorded:
    messages_recorded: int
    duplicates: int
    opt_outs: int
    # Undeliverable sends new to the failure streaks.
    undeliverable: int = 0


class ContactStore:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        inactive_after: int,
        erasure: ContactErasure,
    ) -> None:
        self._pool = pool
        self._inactive_after = inactive_after
        self._erasure = erasure

    async def record(self, events: ContactEvents) -> Recorded:
        """Record a batch; messages seen before are counted as duplicates.

        Pipelined: the statements whose results are not read travel with
        the next one that is, and COMMIT with the pipeline's closing sync.
        Not conn.transaction(), which in a pipeline syncs once before BEGIN
        and twice after COMMIT; the connection rolls back what an error
        leaves open.
        """
        async with self._pool.connection() as conn, conn.pipeline():
            await self._erasure.carry_over(conn, _named(events))
            await _upsert_contacts(conn, events)
            new_messages = await _insert_messages(conn, events.messages)
            undeliverable = await _insert_undeliverable(conn, events.outcomes)

            own = await keywords_of(conn, {m.workspace_id for m in new_messages})
            signals = [
                *(
                    _signal_of(m, own.get(m.workspace_id, keywords.NONE))
                    for m in new_messages
                ),
                *events.signals,
                *filter(None, map(rules.outcome_signal, events.outcomes)),
            ]
            decisions = await self._apply_rules(conn, signals, events.outcomes)
            await conn.execute("COMMIT")

        opt_outs = sum(
            change.flag == rules.OPTED_OUT and change.value
            for decision in decisions.values()
            for change in decision.changes
        )
        return Recorded(
            messages_recorded=len(new_messages),
            duplicates=len(events.messages) - len(new_messages),
            opt_outs=opt_outs,
            undeliverable=undeliverable,
        )

    async def _apply_rules(
        self,
        conn: AsyncConnection[Row],
        signals: Sequence[ContactSignal],
        outcomes: Sequence[SendOutcome],
    ) -> dict[Key, Decision]:
        by_key: dict[Key, list[ContactSignal]] = {}
        for signal in signals:
            by_key.setdefault((signal.workspace_id, signal.phone), []).append(signal)
        # A contact with a new signal or failure goes through the rules; a
        # delivery matters only to a contact with a streak or a flag.
        signalled = set(by_key) | _keys(outcomes, Outcome.UNDELIVERABLE)
        delivered = _keys(outcomes, Outcome.DELIVERED) - signalled

        decisions = {}
        for row in await _lock_contacts(conn, signalled, delivered):
            key = (row["workspace_id"], row["phone"])
            streak = Streak(
                row["streak"], row["last_failure_at"], row["last_delivered_at"]
            )
            decision = rules.decide(
                _contact_of(row), by_key.get(key, []), streak, self._inactive_after
            )
            if decision is not None:
                decisions[key] = decision

        await _write_decisions(conn, decisions)
        return decisions

    async def blocked(self, workspace_id: str, phones: Sequence[str]) -> dict[str, str]:
        """The phones among `phones` that may not be messaged, with why."""
        # A sender asks about 10,000 numbers at once: one comma-joined
        # text, split by the server, costs a third of a text[] parameter
        # of as many elements. Numbers and markers hold no comma.
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT phone, opted_out, inactive FROM contacts.contacts"
                " WHERE workspace_id = %s"
                " AND phone = ANY(string_to_array(%s, ','))"
                " AND (opted_out OR inactive)",
                [workspace_id, ",".join(set(phones))],
            )
            rows = await cursor.fetchall()
        return {
            row["phone"]: rules.blocking_reason(row["opted_out"], row["inactive"])
            for row in rows
        }

    async def existing(self, workspace_id: str, phones: Sequence[str]) -> set[str]:
        """The phones among `phones` that are contacts of the workspace."""
        async with reading(self._pool) as conn:
            cursor = await conn.execute(
                "SELECT phone FROM contacts.contacts WHERE workspace_id = %s"
                " AND phone = ANY(string_to_array(%s, ','))",
                [workspace_id, ",".join(phones)],
            )
            rows = await cursor.fetchall()
        return {row["phone"] for row in rows}

    async def has_erased(self, workspace_id: str) -> bool:
        """Whether the workspace keeps the marker of any erased number."""
        async with reading(self._pool) as conn:
            cursor = await conn.execute(
                "SELECT EXISTS (SELECT 1 FROM contacts.contacts"
                " WHERE workspace_id = %s AND phone >= %s AND phone < %s)",
                # Every marker starts with the prefix; ';' follows ':'.
                [workspace_id, erasure.PREFIX, erasure.PREFIX[:-1] + ";"],
            )
            row = await cursor.fetchone()
        return bool(row and row["exists"])

    async def contact(self, workspace_id: str, phone: str) -> Contact | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM contacts.contacts"
                " WHERE workspace_id = %s AND phone = %s",
                [workspace_id, phone],
            )
            row = await cursor.fetchone()
        return None if row is None else _contact_of(row)

    async def contacts(self, workspace_id: str, phones: Sequence[str]) -> list[Contact]:
        """The known contacts among `phones`, in one query."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM contacts.contacts"
                " WHERE workspace_id = %s AND phone = ANY(%s)",
                [workspace_id, list(set(phones))],
            )
            rows = await cursor.fetchall()
        return [_contact_of(row) for row in rows]

    async def history(
        self, workspace_id: str, phone: str, limit: int, after: Cursor | None
    ) -> list[HistoryItem]:
        """Up to `limit` items, newest first, after the cursor if any."""
        params = {
            "workspace_id": workspace_id,
            "phone": phone,
            "limit": limit,
            "at": after.at if after else None,
            "rank": after.rank if after else 0,
            "id": after.id if after else 0,
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_HISTORY, params)
            rows = await cursor.fetchall()
        return [HistoryItem(**row) for row in rows]

    async def decide_flag(
        self,
        workspace_id: str,
        phone: str,
        flag: str,
        value: bool,
        at: datetime,
        *,
        note: str,
        agent: str,
    ) -> Contact:
        """Record an agent's decision; a number never seen becomes a contact."""
        async with self._pool.connection() as conn, conn.transaction():
            await self._erasure.carry_over(conn, [(workspace_id, phone)])
            await conn.execute(
                "INSERT INTO contacts.contacts (workspace_id, phone)"
                " VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [workspace_id, phone],
            )
            cursor = await conn.execute(
                "SELECT * FROM contacts.contacts"
                " WHERE workspace_id = %s AND phone = %s FOR UPDATE",
                [workspace_id, phone],
            )
            row = await cursor.fetchone()
            assert row is not None  # inserted above when it was missing
            contact = _contact_of(row)

            change = rules.agent_change(
                getattr(contact, flag), flag, value, at, note=note, agent=agent
            )
            columns = (sql.Identifier(flag + suffix) for suffix in _FLAG_COLUMNS)
            cursor = await conn.execute(
                _SET_FLAG.format(*columns),
                [*_flag_row(rules.flag_after(change)), workspace_id, phone],
            )
            updated = await cursor.fetchone()
            await _insert_changes(conn, [((workspace_id, phone), change)])

        assert updated is not None  # the row is locked
        return _contact_of(updated)

    async def flag_history(
        self, workspace_id: str, phone: str, limit: int, after: Cursor | None
    ) -> list[AuditEntry]:
        """Up to `limit` flag changes, newest first, after the cursor if any."""
        params = {
            "workspace_id": workspace_id,
            "phone": phone,
            "limit": limit,
            "at": after.at if after else None,
            "id": after.id if after else 0,
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_FLAG_HISTORY, params)
            rows = await cursor.fetchall()
        return [AuditEntry(row.pop("id"), FlagChange(**row)) for row in rows]


_FLAG_COLUMNS = ("", "_reason", "_by", "_changed_at")

_SET_FLAG = sql.SQL(
    "UPDATE contacts.contacts SET {} = %s, {} = %s, {} = %s, {} = %s"
    " WHERE workspace_id = %s AND phone = %s RETURNING *"
)

_FLAG_HISTORY = """
SELECT id, flag, value, reason, set_by, at, note, agent
FROM contacts.flag_changes
WHERE workspace_id = %(workspace_id)s AND phone = %(phone)s
  AND (%(at)s::timestamptz IS NULL
       OR (at, id) < (%(at)s::timestamptz, %(id)s::bigint))
ORDER BY at DESC, id DESC
LIMIT %(limit)s
"""

_HISTORY = """
SELECT kind, at, id, wamid, type, text, context_wamid, flag, value, reason
FROM (
    SELECT 'inbound_message' AS kind, 0 AS kind_rank, id, occurred_at AS at,
           wamid, type, text, context_wamid,
           '' AS flag, false AS value, '' AS reason
    FROM contacts.messages
    WHERE workspace_id = %(workspace_id)s AND phone = %(phone)s
    UNION ALL
    SELECT 'flag_change', 1, id, at, '', '', '', '', flag, value, reason
    FROM contacts.flag_changes
    WHERE workspace_id = %(workspace_id)s AND phone = %(phone)s
) AS item
WHERE %(at)s::timestamptz IS NULL
   OR (at, kind_rank, id) < (%(at)s::timestamptz, %(rank)s::int, %(id)s::bigint)
ORDER BY at DESC, kind_rank DESC, id DESC
LIMIT %(limit)s
"""


def _columns(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows as one list per column: the arrays that unnest() takes."""
    return [list(column) for column in zip(*rows, strict=True)]


def _keys(outcomes: Iterable[SendOutcome], outcome: Outcome) -> set[Key]:
    return {(o.workspace_id, o.phone) for o in outcomes if o.outcome is outcome}


def _signal_of(message: InboundMessage, own: Keywords) -> ContactSignal:
    return ContactSignal(
        message.workspace_id,
        message.phone,
        keywords.signal_of(message, own),
        message.at,
        message.wamid,
    )


def _contact_of(row: Row) -> Contact:
    def flag(name: str) -> Flag:
        return Flag(
            row[name],
            row[f"{name}_reason"],
            row[f"{name}_by"],
            row[f"{name}_changed_at"],
        )

    return Contact(
        workspace_id=row["workspace_id"],
        phone=row["phone"],
        name=row["name"],
        opted_out=flag("opted_out"),
        inactive=flag("inactive"),
        failure_streak=row["failure_streak"],
        last_inbound_at=row["last_inbound_at"],
    )


def _named(events: ContactEvents) -> set[Key]:
    """The contacts a batch names."""
    return {
        *((m.workspace_id, m.phone) for m in events.messages),
        *((s.workspace_id, s.phone) for s in events.signals),
        *((o.workspace_id, o.phone) for o in events.outcomes),
    }


async def _upsert_contacts(conn: AsyncConnection[Row], events: ContactEvents) -> None:
    """Create the contacts the events name; keep names and times current."""
    names: dict[Key, str] = {}
    inbound: dict[Key, datetime | None] = {}
    delivered: dict[Key, datetime] = {}

    # In the order they occurred, so that the latest name and times win.
    for message in sorted(events.messages, key=lambda m: m.at):
        key = (message.workspace_id, message.phone)
        inbound[key] = message.at
        if message.name:
            names[key] = message.name
    for outcome in sorted(events.outcomes, key=lambda o: o.at):
        if outcome.outcome is Outcome.DELIVERED:
            delivered[outcome.workspace_id, outcome.phone] = outcome.at
    for event in events.signals:
        inbound.setdefault((event.workspace_id, event.phone), None)
    for outcome in events.outcomes:
        inbound.setdefault((outcome.workspace_id, outcome.phone), None)

    # Sorted, so that concurrent batches lock their contacts in one order.
    rows = [
        (*key, names.get(key, ""), inbound[key], delivered.get(key))
        for key in sorted(inbound)
    ]
    if rows:
        await conn.execute(_UPSERT_CONTACTS, _columns(rows))


_UPSERT_CONTACTS = """
INSERT INTO contacts.contacts AS c
    (workspace_id, phone, name, last_inbound_at, last_delivered_at)
SELECT * FROM unnest(
    %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[]
)
ON CONFLICT (workspace_id, phone) DO UPDATE SET
    name = CASE
        WHEN excluded.name <> ''
         AND excluded.last_inbound_at >= coalesce(c.last_inbound_at, '-infinity')
        THEN excluded.name ELSE c.name END,
    last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at),
    last_delivered_at = greatest(c.last_delivered_at, excluded.last_delivered_at)
-- Rewrite a row only when something changes; it is locked either way.
WHERE (excluded.name NOT IN ('', c.name)
       AND excluded.last_inbound_at >= coalesce(c.last_inbound_at, '-infinity'))
   OR excluded.last_inbound_at > coalesce(c.last_inbound_at, '-infinity')
   OR excluded.last_delivered_at > coalesce(c.last_delivered_at, '-infinity')
"""


async def _insert_messages(
    conn: AsyncConnection[Row], messages: Sequence[InboundMessage]
) -> list[InboundMessage]:
    """Store the messages not seen before, and return them."""
    if not messages:
        return []
    rows = [
        (
            m.workspace_id,
            m.phone,
            m.wamid,
            m.type,
            m.text,
            m.button_payload,
            m.context_wamid,
            m.at,
        )
        for m in messages
    ]
    cursor = await conn.execute(
        "INSERT INTO contacts.messages (workspace_id, phone, wamid, type,"
        " text, button_payload, context_wamid, occurred_at)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[],"
        " %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])"
        " ON CONFLICT (workspace_id, wamid) DO NOTHING"
        " RETURNING workspace_id, wamid",
        _columns(rows),
    )
    inserted = {(row["workspace_id"], row["wamid"]) for row in await cursor.fetchall()}

    new = []
    for message in messages:
        key = (message.workspace_id, message.wamid)
        if key in inserted:
            inserted.remove(key)  # the same id twice in one batch is new once
            new.append(message)
    return new


async def _insert_undeliverable(
    conn: AsyncConnection[Row], outcomes: Iterable[SendOutcome]
) -> int:
    """Store the undeliverable sends not seen before; return how many."""
    rows = [
        (o.workspace_id, o.wamid, o.phone, o.error_code, o.at)
        for o in outcomes
        if o.outcome is Outcome.UNDELIVERABLE
    ]
    if not rows:
        return 0
    # RETURNING, as a pipeline knows a statement's row count only once
    # its rows are fetched.
    cursor = await conn.execute(
        "INSERT INTO contacts.undeliverable_sends"
        " (workspace_id, wamid, phone, error_code, occurred_at)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[],"
        " %s::int[], %s::timestamptz[])"
        " ON CONFLICT (workspace_id, wamid) DO NOTHING"
        " RETURNING 1",
        _columns(rows),
    )
    return len(await cursor.fetchall())


async def _lock_contacts(
    conn: AsyncConnection[Row], signalled: set[Key], delivered: set[Key]
) -> list[Row]:
    """Read and lock the contacts the rules must look at, with their streak."""
    rows = [(*key, key in signalled) for key in sorted(signalled | delivered)]
    if not rows:
        return []
    cursor = await conn.execute(_LOCK_CONTACTS, _columns(rows))
    return await cursor.fetchall()


# Each key is looked up through the primary key, in the keys' order (they
# come sorted, the order locks are taken in): a subquery that locks is
# never merged into the join, so the planner cannot trade the lookups for
# a scan of every contact, as it does on a table larger than it last
# measured.
_LOCK_CONTACTS = """
SELECT c.*, s.streak, s.last_failure_at
FROM unnest(%s::text[], %s::text[], %s::boolean[]) WITH ORDINALITY
     AS k (workspace_id, phone, signalled, n)
CROSS JOIN LATERAL (
    SELECT * FROM contacts.contacts AS c
    WHERE c.workspace_id = k.workspace_id AND c.phone = k.phone
      AND (k.signalled OR c.failure_streak > 0 OR c.inactive)
    FOR UPDATE
) AS c
CROSS JOIN LATERAL (
    SELECT count(*)::int AS streak, max(u.occurred_at) AS last_failure_at
    FROM contacts.undeliverable_sends AS u
    WHERE u.workspace_id = c.workspace_id AND u.phone = c.phone
      AND u.occurred_at > coalesce(c.last_delivered_at, '-infinity')
) AS s
ORDER BY k.n
"""


async def _write_decisions(
    conn: AsyncConnection[Row], decisions: dict[Key, Decision]
) -> None:
    """Write the new flags and streaks, and each change to the audit trail."""
    if not decisions:
        return
    await conn.execute(
        _UPDATE_FLAGS,
        _columns(
            (*key, *_flag_row(d.opted_out), *_flag_row(d.inactive), d.failure_streak)
            for key, d in decisions.items()
        ),
    )

    await _insert_changes(
        conn,
        [(key, c) for key, decision in decisions.items() for c in decision.changes],
    )


async def _insert_changes(
    conn: AsyncConnection[Row], changes: Sequence[tuple[Key, FlagChange]]
) -> None:
    """Add the changes to the audit trail."""
    rows = [
        (*key, c.flag, c.value, str(c.reason), str(c.set_by), c.note, c.agent, c.at)
        for key, c in changes
    ]
    if rows:
        await conn.execute(
            "INSERT INTO contacts.flag_changes"
            " (workspace_id, phone, flag, value, reason, set_by, note, agent, at)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[],"
            " %s::boolean[], %s::text[], %s::text[], %s::text[], %s::text[],"
            " %s::timestamptz[])",
            _columns(rows),
        )


def _flag_row(flag: Flag) -> tuple[Any, ...]:
    return (flag.on, str(flag.reason), str(flag.set_by), flag.changed_at)


_UPDATE_FLAGS = """
UPDATE contacts.contacts AS c SET
    opted_out = u.opted_out,
    opted_out_reason = u.opted_out_reason,
    opted_out_by = u.opted_out_by,
    opted_out_changed_at = u.opted_out_changed_at,
    inactive = u.inactive,
    inactive_reason = u.inactive_reason,
    inactive_by = u.inactive_by,
    inactive_changed_at = u.inactive_changed_at,
    failure_streak = u.failure_streak
FROM unnest(
    %s::text[], %s::text[],
    %s::boolean[], %s::text[], %s::text[], %s::timestamptz[],
    %s::boolean[], %s::text[], %s::text[], %s::timestamptz[],
    %s::int[]
) AS u (
    workspace_id, phone,
    opted_out, opted_out_reason, opted_out_by, opted_out_changed_at,
    inactive, inactive_reason, inactive_by, inactive_changed_at,
    failure_streak
)
WHERE c.workspace_id = u.workspace_id AND c.phone = u.phone
"""
