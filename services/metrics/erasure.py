"""Erasing a number from a workspace's campaigns, counters intact.

Recipient rows stay, with their statuses and times, so every counter,
failure reason and series of a campaign reads the same after: only the
number becomes its marker (xobito.erasure) and the name goes. Inbound
messages keep the reply they credited under the marker too. Status
events lose the parts of their detail that may quote the number (the
callback data the sender attached and Meta's error details); account
events that quote it are deleted, and so are retries not yet handed to
the sender (they would go out to the marker). Redis holds counters only,
keyed by campaign, so it has nothing to erase.
"""

from __future__ import annotations

from services.metrics.ledger import Conn, Pool, transact
from xobito import erasure

# A second marker in one campaign (the number was added again after an
# erasure) would break the campaign's one row per phone: it gets the
# row's id as a suffix.
_RECIPIENTS = """
UPDATE metrics.recipients AS r SET
    phone = CASE WHEN EXISTS (
            SELECT 1 FROM metrics.recipients AS o
            WHERE o.campaign_id = r.campaign_id AND o.phone = %(marker)s)
        THEN %(marker)s || ':' || r.id ELSE %(marker)s END,
    name = '',
    name_key = '',
    failure_title = replace(r.failure_title, %(phone)s, '')
FROM metrics.campaigns AS c
WHERE c.id = r.campaign_id AND c.workspace_id = %(workspace_id)s
  AND r.phone = %(phone)s
RETURNING r.id, r.wamid
"""

# The wamids of the rows' earlier attempts, whose statuses are theirs too.
_EARLIER_WAMIDS = """
SELECT wamid FROM metrics.earlier_wamids
WHERE recipient_id = ANY(%(ids)s::bigint[])
"""

_INBOUND = """
UPDATE metrics.inbound_messages SET phone = %(marker)s
WHERE workspace_id = %(workspace_id)s AND phone = %(phone)s
"""

_STATUS_EVENTS = """
UPDATE metrics.status_events SET
    detail = detail - 'biz_opaque_callback_data' - 'error_message'
                    - 'error_details',
    error_title = replace(error_title, %(phone)s, '')
WHERE workspace_id = %(workspace_id)s
  AND (wamid = ANY(%(wamids)s::text[])
       OR detail::text LIKE %(pattern)s OR error_title LIKE %(pattern)s)
"""

_WAITING_RETRIES = """
DELETE FROM metrics.retries AS q
USING metrics.recipients AS r
WHERE q.recipient_id = r.id AND q.workspace_id = %(workspace_id)s
  AND q.handed_out_at IS NULL AND r.phone = %(phone)s
"""

_ACCOUNT_EVENTS = """
DELETE FROM metrics.account_events
WHERE workspace_id = %(workspace_id)s AND payload::text LIKE %(pattern)s
"""


class RecipientErasure:
    def __init__(self, pool: Pool, key: str) -> None:
        self._pool = pool
        self._key = key

    async def erase(self, workspace_id: str, phone: str) -> int:
        """Erase a normalized number; return the rows rewritten."""
        params = {
            "workspace_id": workspace_id,
            "phone": phone,
            "marker": erasure.marker(self._key, phone),
            "pattern": f"%{phone}%",  # digits only: nothing to escape
        }

        async def work(conn: Conn) -> int:
            erased = (await conn.execute(_WAITING_RETRIES, params)).rowcount
            cursor = await conn.execute(_RECIPIENTS, params)
            rows = await cursor.fetchall()
            erased += cursor.rowcount
            wamids = [row["wamid"] for row in rows]
            earlier = await conn.execute(
                _EARLIER_WAMIDS, {"ids": [row["id"] for row in rows]}
            )
            wamids += [row["wamid"] for row in await earlier.fetchall()]

            following = {**params, "wamids": [w for w in wamids if w]}
            for statement in (_INBOUND, _STATUS_EVENTS, _ACCOUNT_EVENTS):
                erased += (await conn.execute(statement, following)).rowcount
            return erased

        return await transact(self._pool, work)
