"""The campaign messages sent to one number, for the contact's history.

Newest first by the time the message was sent, each with its campaign,
its template and Meta's statuses for it. Paged by keyset: every send
carries the token that resumes right after it, so that the gateway can
merge this list with the contact's own history and stop anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.metrics import cursors, store
from services.metrics.ledger import Pool, state_of
from services.metrics.statuses import RecipientState
from xobito.errors import InvalidArgumentError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200

# Recipients not handed to Meta yet (no sent_at) are no message yet.
_SENDS = """
SELECT r.*, c.name AS campaign_name, c.template_name
FROM metrics.recipients AS r
JOIN metrics.campaigns AS c ON c.id = r.campaign_id
WHERE r.phone = %(phone)s AND c.workspace_id = %(workspace_id)s
  AND r.sent_at IS NOT NULL
  AND (%(at)s::timestamptz IS NULL
       OR (r.sent_at, r.id) < (%(at)s::timestamptz, %(id)s::bigint))
ORDER BY r.sent_at DESC, r.id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class ContactSend:
    campaign_id: str
    campaign_name: str
    template_name: str
    state: RecipientState
    # Meta's statuses as (status upper-cased, time), oldest first.
    timeline: list[tuple[str, datetime]]
    page_token: str


@dataclass(frozen=True, slots=True)
class ContactSendPage:
    sends: list[ContactSend]
    next_page_token: str


class ContactSends:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def page(
        self, workspace_id: str, phone: str, page_size: int, page_token: str
    ) -> ContactSendPage:
        """Up to page_size sends after the token, newest first."""
        if page_size < 0:
            raise InvalidArgumentError("page_size must not be negative")
        limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        at, last_id = None, 0
        if page_token:
            raw_at, raw_id = cursors.decode(page_token, 2)
            at = cursors.decode_time(raw_at)
            last_id = cursors.decode_int(raw_id)

        params = {
            "workspace_id": workspace_id,
            "phone": phone,
            "at": at,
            "id": int(last_id),
            "limit": limit + 1,  # one more tells whether a page follows
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_SENDS, params)
            rows = await cursor.fetchall()
            ids = [row["id"] for row in rows[:limit]]
            timelines = await store.timelines(conn, workspace_id, ids)

        sends = [
            ContactSend(
                campaign_id=row["campaign_id"],
                campaign_name=row["campaign_name"],
                template_name=row["template_name"],
                state=state_of(row),
                timeline=[
                    (status.upper(), occurred_at)
                    for status, occurred_at in timelines.get(row["id"], [])
                ],
                page_token=cursors.encode(row["sent_at"], row["id"]),
            )
            for row in rows[:limit]
        ]
        more = len(rows) > limit
        return ContactSendPage(sends, sends[-1].page_token if more else "")
