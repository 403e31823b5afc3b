"""recipientUpdates: the live recipient table of a campaign.

Each subscriber has its own WatchRecipients call, unlike the shared,
paced campaignCounters (gateway.live): rows are not a single value a
slow subscriber may skip to the newest of, every changed row matters,
and each subscriber filters by its own status. gRPC flow control holds
back a slow subscriber's rows in the metrics service.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry

from gateway.context import Info
from gateway.errors import NotFoundError
from gateway.live import subscriptions
from gateway.types.recipients import Recipient, RecipientStatus
from xobito.metrics.v1 import metrics_pb2 as mpb

_COUNTED_AS = {"subscription": "recipientUpdates"}


async def recipient_updates(
    info: Info,
    campaign_id: strawberry.ID,
    status: RecipientStatus | None = None,
) -> AsyncGenerator[Recipient, None]:
    """Each recipient row of the campaign as it changes, from now on.

    With a status, only rows that have it after their change.
    """
    context = info.context
    wanted = mpb.RECIPIENT_STATUS_UNSPECIFIED if status is None else status.value
    watch = context.metrics.watch_recipients(context.workspace, campaign_id, wanted)
    subscriptions.add(1, _COUNTED_AS)
    try:
        # Closing the stream, as when the client goes, cancels the call.
        async with aclosing(watch):
            async for row in watch:
                yield Recipient.of(row)
    except NotFoundError:
        # The same words for unknown and foreign: existence stays hidden.
        raise NotFoundError("campaign not found") from None
    finally:
        subscriptions.add(-1, _COUNTED_AS)
