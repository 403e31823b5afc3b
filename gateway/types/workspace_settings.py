"""A workspace's settings, as the key's workspace sees them."""

from __future__ import annotations

import strawberry

from gateway.context import Context
from xobito.contacts.v1 import contacts_pb2 as cpb


@strawberry.type(description="Settings that apply to the key's workspace.")
class WorkspaceSettings:
    stop_keywords: list[str] = strawberry.field(
        description="Whole messages that opt a contact out, beside the defaults."
    )
    start_keywords: list[str] = strawberry.field(
        description="Whole messages that opt a contact back in."
    )

    @classmethod
    def of(cls, keywords: cpb.Keywords) -> WorkspaceSettings:
        return cls(
            stop_keywords=list(keywords.stop_keywords),
            start_keywords=list(keywords.start_keywords),
        )


async def get_workspace_settings(context: Context) -> WorkspaceSettings:
    keywords = await context.contacts.get_keywords(context.workspace)
    return WorkspaceSettings.of(keywords)
