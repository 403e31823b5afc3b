"""The write path: recipients, sends and Meta's events become row changes.

Each call is one transaction: lock the recipient rows it touches, fold
the new facts into their states (see statuses), write the changed rows
and their counter deltas (the outbox) together, commit, then apply the
deltas to Redis (see counters).

Each call binds what it did to the logging context, so that the one log
line of the call carries it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from structlog.contextvars import bind_contextvars

from services.metrics import billing, eventlog, ledger, outbox, retry_store, store
from services.metrics.changes import RowChanges, apply_report, failure_of
from services.metrics.counters import Counters
from services.metrics.events import (
    EventBatch,
    InboundMessage,
    NewRecipient,
    Outcome,
    PreferenceChange,
    Send,
    StatusReport,
)
from services.metrics.ledger import Conn, Pool, transact
from services.metrics.outbox import OutboxRow
from services.metrics.recipient_feed import RecipientFeed
from services.metrics.rejections import Rejection, RejectionSink, rejection_of
from services.metrics.search import name_key
from services.metrics.statuses import (
    Bucket,
    RecipientState,
    apply_opt_out,
    apply_reply,
    apply_send,
    start_attempt,
)
from xobito import phones
from xobito.errors import ConflictError, InvalidArgumentError, NotFoundError

# Inbound messages that are not the contact writing back.
NOT_REPLIES = frozenset({"reaction", "system"})


@dataclass(frozen=True, slots=True)
class AddResult:
    added: int
    recipient_total: int


@dataclass(frozen=True, slots=True)
class SendsResult:
    # Sends new to the record; a send recorded before is not counted.
    recorded: int
    early_statuses_applied: int
    # Every rejection contacts must hear of, recorded before or not.
    rejections: tuple[Rejection, ...] = ()


@dataclass(frozen=True, slots=True)
class EventsResult:
    outcomes: list[Outcome]
    replies: int


def _phones(raw: Sequence[str], what: str) -> list[str]:
    found = []
    for index, phone in enumerate(raw):
        normalized = phones.normalize(phone)
        if normalized is None:
            raise InvalidArgumentError(f"{what}[{index}].phone is not a phone number")
        found.append(normalized)
    return found


class Recorder:
    def __init__(
        self,
        pool: Pool,
        counters: Counters,
        reply_window: timedelta,
        feed: RecipientFeed | None = None,
        rejections: RejectionSink | None = None,
    ) -> None:
        self._pool = pool
        self._counters = counters
        self._reply_window = reply_window
        self._feed = feed
        self._rejections = rejections

    async def add_recipients(
        self, campaign_id: str, recipients: Sequence[NewRecipient]
    ) -> AddResult:
        """Add recipients; a phone already in the campaign is skipped."""
        phones = _phones([r.phone for r in recipients], "recipients")
        names: dict[str, str] = {}
        for phone, recipient in zip(phones, recipients, strict=True):
            names.setdefault(phone, recipient.name)

        async def work(conn: Conn) -> tuple[int, list[OutboxRow]]:
            await _campaign(conn, campaign_id)
            added = await ledger.insert_recipients(
                conn,
                campaign_id,
                list(names),
                list(names.values()),
                [name_key(name) for name in names.values()],
            )
            change = {Bucket.PENDING.value: len(added)}
            return len(added), await outbox.insert(conn, {campaign_id: change})

        added, rows = await transact(self._pool, work)
        if await self._counters.apply(rows):
            total = (await self._counters.tally(campaign_id)).recipient_total
        else:
            async with self._pool.connection() as conn:
                total = await store.recipient_total(conn, campaign_id)
        bind_contextvars(recipients=len(recipients), added=added)
        return AddResult(added, total)

    async def record_sends(
        self, campaign_id: str, sends: Sequence[Send]
    ) -> SendsResult:
        """Record sends, then the statuses that came before them.

        A recipient's new wamid is refused unless a retry is queued for
        its current attempt: the send is then the retry (see _Attempts).
        """
        phones = _phones([send.phone for send in sends], "sends")
        phone_of: dict[str, str] = {}
        for index, (send, phone) in enumerate(zip(sends, phones, strict=True)):
            if send.error_code:
                continue
            if not send.wamid:
                raise InvalidArgumentError(
                    f"sends[{index}] has neither a wamid nor an error_code"
                )
            if phone_of.setdefault(send.wamid, phone) != phone:
                raise InvalidArgumentError(
                    f"sends[{index}].wamid is given to two phones"
                )
        wamids = sorted(phone_of)
        now = datetime.now(UTC)
        written: dict[str, list[int]] = {}

        async def work(conn: Conn) -> tuple[SendsResult, list[OutboxRow]]:
            campaign = await _campaign(conn, campaign_id)
            await ledger.lock_wamids(conn, wamids)
            owners = await ledger.wamid_owners(conn, wamids)
            for wamid, owner in owners.items():
                if (owner.campaign_id, owner.phone) != (campaign_id, phone_of[wamid]):
                    raise ConflictError(f"wamid {wamid} was sent to someone else")

            unique = sorted(set(phones))
            new_ids = await ledger.insert_recipients(
                conn, campaign_id, unique, [""] * len(unique), [""] * len(unique)
            )
            rows = await ledger.lock_recipients_by_phone(conn, campaign_id, unique)
            changes = RowChanges(rows.values(), new_ids)
            attempts = _Attempts(
                await retry_store.queued_attempts(
                    conn, [row.id for row in rows.values()]
                )
            )
            recorded = 0
            rejected: list[Rejection] = []
            for index, (send, phone) in enumerate(zip(sends, phones, strict=True)):
                held = owners.get(send.wamid) if not send.error_code else None
                if held is not None and held.earlier:
                    continue  # an earlier attempt's send, told again
                recipient_id = rows[phone].id
                change = _send_change(send, now)
                if attempts.retried(recipient_id, changes.states[recipient_id], send):
                    changes.fold(recipient_id, start_attempt)
                elif _another_wamid(changes.states[recipient_id], send):
                    raise ConflictError(
                        f"sends[{index}]: the recipient has another wamid"
                        " and no retry queued"
                    )
                if changes.fold(recipient_id, change):
                    recorded += 1
                rejection = rejection_of(
                    campaign.workspace_id,
                    phone,
                    recipient_id,
                    changes.states[recipient_id],
                    send,
                )
                if rejection is not None:
                    rejected.append(rejection)
            await ledger.insert_earlier_wamids(conn, attempts.earlier_wamids)
            await retry_store.resent(conn, attempts.resent)

            parked = await eventlog.parked_statuses(conn, campaign.workspace_id, wamids)
            by_wamid = {
                state.wamid: recipient_id
                for recipient_id, state in changes.states.items()
                if state.wamid
            }
            for report in parked:
                changes.fold(
                    by_wamid[report.wamid], partial(apply_report, report=report)
                )
            await billing.record(
                conn, billing.pricings((report, campaign_id) for report in parked)
            )
            result = SendsResult(recorded, len(parked), tuple(rejected))
            return result, await changes.write(conn, written)

        result, rows = await transact(self._pool, work)
        await self._counters.apply(rows)
        await self._published(written)
        if self._rejections is not None:
            # Raises when contacts is down: the sender records the sends
            # again, which records nothing twice.
            await self._rejections(result.rejections)
        bind_contextvars(
            sends=len(sends),
            recorded=result.recorded,
            early_statuses=result.early_statuses_applied,
        )
        return result

    async def record_events(self, batch: EventBatch) -> EventsResult:
        """Apply a webhook's events; each status's outcome, in order."""
        _check_events(batch)
        # The first of equal reports in the batch stands for all of them.
        first: dict[tuple[str, str, datetime], int] = {}
        for index, report in enumerate(batch.statuses):
            first.setdefault(report.key, index)
        reports = [batch.statuses[index] for index in first.values()]
        written: dict[str, list[int]] = {}

        async def work(conn: Conn) -> tuple[EventsResult, list[OutboxRow]]:
            await ledger.lock_wamids(conn, [report.wamid for report in reports])
            matched = await ledger.recipients_by_wamid(
                conn, [(report.wamid, report.workspace_id) for report in reports]
            )
            targets = await self._targets(conn, batch)
            rows = await ledger.lock_recipients(
                conn, [*matched.values(), *targets.ids()]
            )

            unmatched = [(r.wamid, r.workspace_id) not in matched for r in reports]
            new_reports = await eventlog.insert_statuses(conn, reports, unmatched)
            new_messages = await eventlog.insert_messages(
                conn, batch.messages, targets.per_message()
            )
            await eventlog.insert_account_events(conn, batch.account_events)

            changes = RowChanges(rows.values())
            outcomes = [Outcome.DUPLICATE] * len(batch.statuses)
            applied: list[tuple[StatusReport, str]] = []
            for report in reports:
                if report.key not in new_reports:
                    continue
                recipient_id = matched.get((report.wamid, report.workspace_id))
                if recipient_id is None:
                    outcomes[first[report.key]] = Outcome.UNMATCHED
                    continue
                outcomes[first[report.key]] = Outcome.APPLIED
                # A late status of an earlier attempt joins the timeline
                # only: the row tells of the latest attempt.
                if changes.states[recipient_id].wamid == report.wamid:
                    changes.fold(recipient_id, partial(apply_report, report=report))
                applied.append((report, rows[recipient_id].campaign_id))
            await billing.record(conn, billing.pricings(applied))
            replies = _apply_messages(changes, batch, targets, new_messages)
            result = EventsResult(outcomes, replies)
            return result, await changes.write(conn, written)

        result, rows = await transact(self._pool, work, pipelined=True)
        await self._counters.apply(rows)
        await self._published(written)
        bind_contextvars(
            statuses=len(batch.statuses),
            applied=result.outcomes.count(Outcome.APPLIED),
            unmatched=result.outcomes.count(Outcome.UNMATCHED),
            messages=len(batch.messages),
            replies=result.replies,
        )
        return result

    async def _published(self, written: dict[str, list[int]]) -> None:
        if self._feed is not None:
            await self._feed.publish(written)

    async def _targets(self, conn: Conn, batch: EventBatch) -> _Targets:
        """The campaign recipients the messages and opt-outs are about.

        Known shortcoming: a reply or opt-out whose webhook comes before
        RecordSends has recorded the send it answers is kept, but never
        credited to that send afterwards, unlike an early status.
        """
        messages = batch.messages
        opt_outs = [p for p in batch.preferences if p.opted_out]
        contacts = [
            (m.workspace_id, m.phone, m.occurred_at, m.context_wamid) for m in messages
        ] + [(p.workspace_id, p.phone, p.occurred_at, "") for p in opt_outs]
        found = await ledger.attribute(conn, contacts)
        about_messages = found[: len(messages)]
        about_opt_outs = found[len(messages) :]

        # An opt-out needs no window: any send before it was opted out of.
        return _Targets(
            replies=[
                self._reply_target(message, about)
                for message, about in zip(messages, about_messages, strict=True)
            ],
            stops=[
                _quoted_or_latest(about) if message.opt_out else None
                for message, about in zip(messages, about_messages, strict=True)
            ],
            preference_stops=[
                (preference, _quoted_or_latest(about))
                for preference, about in zip(opt_outs, about_opt_outs, strict=True)
            ],
        )

    def _reply_target(
        self, message: InboundMessage, about: ledger.Attribution
    ) -> int | None:
        if message.type in NOT_REPLIES:
            return None
        if about.quoted is not None:
            return about.quoted
        sent_at = about.latest_called_at
        if sent_at is not None and message.occurred_at - sent_at <= self._reply_window:
            return about.latest
        return None


def _quoted_or_latest(about: ledger.Attribution) -> int | None:
    return about.quoted if about.quoted is not None else about.latest


@dataclass(frozen=True, slots=True)
class _Targets:
    """Per message its reply and opt-out recipient, and per opt-out its."""

    replies: list[int | None]
    stops: list[int | None]
    preference_stops: list[tuple[PreferenceChange, int | None]]

    def ids(self) -> set[int]:
        found = [*self.replies, *self.stops]
        found += [stop for _, stop in self.preference_stops]
        return {recipient_id for recipient_id in found if recipient_id is not None}

    def per_message(self) -> list[int | None]:
        return [
            reply if reply is not None else stop
            for reply, stop in zip(self.replies, self.stops, strict=True)
        ]


def _apply_messages(
    changes: RowChanges, batch: EventBatch, targets: _Targets, new: set[str]
) -> int:
    """Fold replies and opt-outs in; return how many messages were replies."""
    replies = 0
    for message, reply_id, stop_id in zip(
        batch.messages, targets.replies, targets.stops, strict=True
    ):
        if message.wamid not in new:
            continue
        new.discard(message.wamid)  # the same message twice in the batch
        if reply_id is not None:
            replies += 1
            changes.fold(reply_id, partial(apply_reply, at=message.occurred_at))
        if stop_id is not None:
            changes.fold(stop_id, partial(apply_opt_out, at=message.occurred_at))
    for preference, stop_id in targets.preference_stops:
        if stop_id is not None:
            changes.fold(stop_id, partial(apply_opt_out, at=preference.occurred_at))
    return replies


async def _campaign(conn: Conn, campaign_id: str) -> store.CampaignRecord:
    if not campaign_id:
        raise InvalidArgumentError("campaign_id is required")
    found = await store.campaign(conn, campaign_id)
    if found is None:
        raise NotFoundError("no such campaign")
    return found


class _Attempts:
    """The retries a RecordSends call finds, and the attempts they start.

    A send to a recipient whose current attempt has a retry queued, and
    that is not that attempt's own send told again, is the retry: it
    starts the recipient's next attempt, once.
    """

    def __init__(self, queued: set[tuple[int, int]]) -> None:
        self._queued = queued
        self.resent: list[tuple[int, int]] = []
        # (recipient_id, wamid, attempt) of the attempts replaced.
        self.earlier_wamids: list[tuple[int, str, int]] = []

    def retried(self, recipient_id: int, state: RecipientState, send: Send) -> bool:
        """Whether send is the retry; if so, remember what it replaces."""
        key = (recipient_id, state.attempt)
        if key not in self._queued or _told_again(state, send):
            return False
        self._queued.discard(key)
        self.resent.append(key)
        if state.wamid:
            self.earlier_wamids.append((recipient_id, state.wamid, state.attempt))
        return True


def _told_again(state: RecipientState, send: Send) -> bool:
    """Whether send is the current attempt's own send, recorded before."""
    if send.error_code:
        return state.wamid is None and state.called_at == send.sent_at
    return send.wamid == state.wamid


def _another_wamid(state: RecipientState, send: Send) -> bool:
    return not send.error_code and bool(state.wamid) and state.wamid != send.wamid


def _send_change(
    send: Send, now: datetime
) -> Callable[[RecipientState], RecipientState]:
    at = send.sent_at or now
    if send.error_code:
        rejection = failure_of(send.error_code, send.error_title)
        return partial(apply_send, at=at, wamid=None, rejection=rejection)
    return partial(apply_send, at=at, wamid=send.wamid)


def _check_events(batch: EventBatch) -> None:
    kinds: list[tuple[str, Sequence[object]]] = [
        ("statuses", batch.statuses),
        ("messages", batch.messages),
        ("user_preferences", batch.preferences),
        ("account events", batch.account_events),
    ]
    for kind, events in kinds:
        for index, event in enumerate(events):
            if not getattr(event, "workspace_id", ""):
                raise InvalidArgumentError(f"{kind}[{index}] has no workspace_id")
    for kind, wamids in (
        ("statuses", [report.wamid for report in batch.statuses]),
        ("messages", [message.wamid for message in batch.messages]),
    ):
        for index, wamid in enumerate(wamids):
            if not wamid:
                raise InvalidArgumentError(f"{kind}[{index}] has no wamid")
