"""The counters as the contract defines them: a count over the rows.

Tests compare what MetricsService shows with this count over the
recipient rows it lists, computed here from the contract's words, not
from the service's code.
"""

from __future__ import annotations

from collections.abc import Iterable

from xobito.metrics.v1 import metrics_pb2 as pb

_DELIVERED = (pb.RECIPIENT_STATUS_DELIVERED, pb.RECIPIENT_STATUS_READ)


def counted(rows: Iterable[pb.RecipientRow]) -> dict[str, int]:
    """Each counter as a number of recipients, from their rows."""
    rows = list(rows)
    return {
        "recipients": len(rows),
        # Accepted by Meta: the send has a wamid, whatever came after.
        "sent": sum(1 for row in rows if row.wamid),
        "delivered": sum(1 for row in rows if row.status in _DELIVERED),
        "read": sum(1 for row in rows if row.status == pb.RECIPIENT_STATUS_READ),
        "failed": sum(1 for row in rows if row.status == pb.RECIPIENT_STATUS_FAILED),
        "replied": sum(1 for row in rows if row.HasField("replied_at")),
        "opted_out": sum(1 for row in rows if row.HasField("opted_out_at")),
    }


def shown(campaign: pb.Campaign) -> dict[str, int]:
    """The counters GetCampaign shows, in the same shape."""
    c = campaign.counters
    return {
        "recipients": campaign.recipient_total,
        "sent": c.sent,
        "delivered": c.delivered,
        "read": c.read,
        "failed": c.failed,
        "replied": c.replied,
        "opted_out": c.opted_out,
    }
