"""The schema: queries and subscriptions over metrics and contacts.

`python -m gateway.schema` prints it; gateway/schema.graphql is that
output, committed, and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway.context import Info
from gateway.errors import NotFoundError, is_masked
from gateway.guards import guards, log_unexpected
from gateway.mutations.contact_flag import (
    ContactFlagResult,
    clear_contact_flag,
    set_contact_flag,
)
from gateway.mutations.erase_contact import EraseContactResult, erase_contact
from gateway.mutations.retry_failed import RetryResult, retry_failed
from gateway.mutations.stop_keywords import StopKeywordsResult, set_stop_keywords
from gateway.subscriptions.recipient_updates import recipient_updates
from gateway.types.campaign import (
    Campaign,
    CampaignConnection,
    CampaignCounters,
    find_campaign,
    list_campaigns,
)
from gateway.types.comparison import CampaignComparison, compare_campaigns
from gateway.types.contact import Contact, get_contact
from gateway.types.scalars import DATETIME
from gateway.types.unmatched import (
    UnmatchedStatusConnection,
    list_unmatched_statuses,
)
from gateway.types.workspace_settings import (
    WorkspaceSettings,
    get_workspace_settings,
)
from xobito.settings import Settings

log = structlog.get_logger(__name__)


@strawberry.type(
    description="A campaign or contact unknown to the key's workspace is null."
)
class Query:
    @strawberry.field
    async def campaign(self, info: Info, id: strawberry.ID) -> Campaign | None:
        return await find_campaign(info, id)

    @strawberry.field
    async def campaigns(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> CampaignConnection:
        return await list_campaigns(info.context, first, after)

    @strawberry.field
    async def compare_campaigns(
        self, info: Info, ids: list[strawberry.ID]
    ) -> list[CampaignComparison]:
        return await compare_campaigns(info.context, ids)

    @strawberry.field
    async def contact(self, info: Info, phone: str) -> Contact | None:
        return await get_contact(info.context, phone)

    @strawberry.field
    async def workspace_settings(self, info: Info) -> WorkspaceSettings:
        return await get_workspace_settings(info.context)

    @strawberry.field
    async def unmatched_statuses(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> UnmatchedStatusConnection:
        return await list_unmatched_statuses(info.context, first, after)


@strawberry.type(description="Changes to contacts and settings; each has a result.")
class Mutation:
    set_contact_flag: ContactFlagResult = strawberry.mutation(resolver=set_contact_flag)
    clear_contact_flag: ContactFlagResult = strawberry.mutation(
        resolver=clear_contact_flag
    )
    set_stop_keywords: StopKeywordsResult = strawberry.mutation(
        resolver=set_stop_keywords
    )
    retry_failed: RetryResult = strawberry.mutation(resolver=retry_failed)
    erase_contact: EraseContactResult = strawberry.mutation(resolver=erase_contact)


@strawberry.type(description="Live counters and rows over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription
    async def campaign_counters(
        self, info: Info, campaign_id: strawberry.ID
    ) -> AsyncGenerator[CampaignCounters, None]:
        context = info.context
        # Shared with every subscriber of the campaign in this process.
        watch = context.live.counters.subscribe((context.workspace, campaign_id))
        try:
            # Closing the stream, as when the client goes, leaves the
            # feed; the last subscriber to leave cancels the call.
            async with aclosing(watch):
                async for message in watch:
                    yield CampaignCounters.from_message(message)
        except NotFoundError:
            # The same words for unknown and foreign: existence stays hidden.
            raise NotFoundError("campaign not found") from None

    recipient_updates = strawberry.subscription(
        resolver=recipient_updates,
        description="Each recipient row as it changes, from now on.",
    )


class Schema(strawberry.Schema):
    """Logs unexpected errors with their traceback, and the rest briefly.

    Strawberry calls this before MaskUnexpected replaces what it masks.
    """

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            if is_masked(error):
                log_unexpected(error)
                continue
            # The message may quote the query's values (phone numbers):
            # only its kind goes above DEBUG.
            kind = type(error.original_error or error).__name__
            log.info("query refused", kind=kind, path=error.path)
            log.debug("query refused", error=error.message)


def build(settings: Settings) -> Schema:
    """The schema with the limits and protections settings ask for."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map={datetime: DATETIME}),
        extensions=guards(settings),
    )


schema = build(Settings())


def printed() -> str:
    return str(schema) + "\n"


if __name__ == "__main__":
    print(printed(), end="")
