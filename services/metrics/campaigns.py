"""Campaigns: creating them, reading them with their counters, routes.

Creating a campaign registers its business number (and WABA) as the
workspace's, which is how ingest later routes a webhook to a workspace.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from services.metrics import accountlog, cursors, store
from services.metrics.counters import Counters
from services.metrics.ledger import Conn, Pool, transact
from services.metrics.statuses import Tally
from services.metrics.store import CampaignRecord
from xobito import phones, workspaces
from xobito.database import reading
from xobito.errors import ConflictError, InvalidArgumentError, NotFoundError

_CAMPAIGN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# A campaign's name, template and ids; Meta's template names stop at 512.
_MAX_TEXT = 512
# Crockford's base32, as ULIDs use it.
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class CampaignStatus(Enum):
    SCHEDULED = 1
    SENDING = 2
    COMPLETED = 3


def campaign_status(tally: Tally) -> CampaignStatus:
    if tally.pending == tally.recipient_total:
        return CampaignStatus.SCHEDULED
    if tally.pending:
        return CampaignStatus.SENDING
    return CampaignStatus.COMPLETED


def new_campaign_id() -> str:
    """`cmp_` and 26 characters: milliseconds then randomness, like a ULID."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_BASE32[digit])
    return "cmp_" + "".join(reversed(chars))


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgumentError("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


@dataclass(frozen=True, slots=True)
class CampaignView:
    record: CampaignRecord
    tally: Tally

    @property
    def status(self) -> CampaignStatus:
        return campaign_status(self.tally)


@dataclass(frozen=True, slots=True)
class CampaignPage:
    campaigns: list[CampaignView]
    next_page_token: str
    total_count: int


@dataclass(frozen=True, slots=True)
class Routes:
    phone_numbers: dict[str, str]
    wabas: dict[str, str]


async def in_workspace(
    conn: Conn, workspace_id: str, campaign_id: str
) -> CampaignRecord:
    """The campaign; NotFoundError unless it is the workspace's."""
    found = None
    if workspace_id and campaign_id:
        found = await store.campaign(conn, campaign_id, workspace_id)
    if found is None:
        raise NotFoundError("no such campaign")
    return found


class Campaigns:
    def __init__(self, pool: Pool, counters: Counters) -> None:
        self._pool = pool
        self._counters = counters

    async def create(
        self, wanted: CampaignRecord, display_phone_number: str = ""
    ) -> CampaignView:
        """Create the campaign, or return it if its id was created before.

        A display number given is remembered for the campaign's number.
        """
        for name in ("workspace_id", "name", "phone_number_id", "template_name"):
            if not getattr(wanted, name):
                raise InvalidArgumentError(f"{name} is required")
            if len(getattr(wanted, name)) > _MAX_TEXT:
                raise InvalidArgumentError(f"{name} is over {_MAX_TEXT} characters")
        if not workspaces.is_workspace_id(wanted.workspace_id):
            raise InvalidArgumentError(f"workspace_id: {workspaces.RULE}")
        if wanted.id and not _CAMPAIGN_ID.fullmatch(wanted.id):
            raise InvalidArgumentError(
                "campaign_id must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if not wanted.id:
            wanted = replace(wanted, id=new_campaign_id())
        display = ""
        if display_phone_number:
            display = phones.normalize(display_phone_number) or ""
            if not display:
                raise InvalidArgumentError("display_phone_number is not a number")

        async def work(conn: Conn) -> tuple[CampaignRecord, bool]:
            existing = await store.campaign(conn, wanted.id)
            if existing is not None:
                return _same_workspace(existing, wanted.workspace_id), False
            await _claim(conn, "phone_number", wanted.phone_number_id, wanted)
            if wanted.waba_id:
                await _claim(conn, "waba", wanted.waba_id, wanted)
            if display:
                await accountlog.register_display_number(
                    conn, wanted.workspace_id, wanted.phone_number_id, display
                )
            inserted = await store.insert_campaign(conn, wanted)
            created = await store.campaign(conn, wanted.id)
            assert created is not None
            return _same_workspace(created, wanted.workspace_id), inserted

        record, inserted = await transact(self._pool, work)
        # A campaign just made has nothing to count: no need for Redis.
        tally = Tally() if inserted else await self._counters.tally(record.id)
        return CampaignView(record, tally)

    async def get(self, workspace_id: str, campaign_id: str) -> CampaignView:
        record = await self.require(workspace_id, campaign_id)
        return CampaignView(record, await self._counters.tally(record.id))

    async def require(self, workspace_id: str, campaign_id: str) -> CampaignRecord:
        """The campaign; NotFoundError unless it is the workspace's."""
        async with reading(self._pool) as conn:
            return await in_workspace(conn, workspace_id, campaign_id)

    async def page(self, workspace_id: str, size: int, token: str) -> CampaignPage:
        """The workspace's campaigns, newest first."""
        if not workspace_id:
            raise InvalidArgumentError("workspace_id is required")
        limit = page_size(size)
        after = None
        if token:
            created_at, campaign_id = cursors.decode(token, 2)
            after_at = cursors.decode_time(created_at)
            if after_at is None or not isinstance(campaign_id, str):
                raise InvalidArgumentError("page_token is not valid")
            after = (after_at, campaign_id)

        async with self._pool.connection() as conn:
            records = await store.campaigns_page(conn, workspace_id, after, limit + 1)
            total = await store.campaign_count(conn, workspace_id)
        next_token = ""
        if len(records) > limit:
            records = records[:limit]
            last = records[-1]
            next_token = cursors.encode(last.created_at, last.id)
        tallies = await self._counters.tallies([record.id for record in records])
        views = [CampaignView(record, tallies[record.id]) for record in records]
        return CampaignPage(views, next_token, total)

    async def resolve_routes(
        self, phone_number_ids: Sequence[str], waba_ids: Sequence[str]
    ) -> Routes:
        async with self._pool.connection() as conn:
            phones = await store.routes(conn, "phone_number", phone_number_ids)
            wabas = await store.routes(conn, "waba", waba_ids)
        return Routes(phones, wabas)


def _same_workspace(record: CampaignRecord, workspace_id: str) -> CampaignRecord:
    if record.workspace_id != workspace_id:
        raise ConflictError(f"campaign id {record.id!r} is taken")
    return record


async def _claim(
    conn: Conn, kind: store.RouteKind, key: str, wanted: CampaignRecord
) -> None:
    owner = await store.claim_route(conn, kind, key, wanted.workspace_id)
    if owner != wanted.workspace_id:
        label = "phone number" if kind == "phone_number" else "WABA"
        raise ConflictError(f"{label} {key} belongs to another workspace")
