"""setStopKeywords: a workspace's own stop and start keywords.

They replace the workspace's earlier ones and add to the defaults; they
are kept normalized, so the answer shows them as they will be compared.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from gateway.context import Info
from gateway.errors import BadRequestError
from gateway.types.workspace_settings import WorkspaceSettings
from xobito.contacts.v1 import contacts_pb2 as cpb


@strawberry.type(description="The keywords could not be keywords.")
class InvalidKeywordsError:
    message: str


StopKeywordsResult = Annotated[
    WorkspaceSettings | InvalidKeywordsError,
    strawberry.union("StopKeywordsResult"),
]


async def set_stop_keywords(
    info: Info, stop: list[str], start: list[str]
) -> StopKeywordsResult:
    """Replace the workspace's stop and start keywords."""
    request = cpb.SetKeywordsRequest(
        workspace_id=info.context.workspace,
        stop_keywords=stop,
        start_keywords=start,
    )
    try:
        keywords = await info.context.contacts.set_keywords(request)
    except BadRequestError as error:
        # The contacts service explains which keyword and why.
        return InvalidKeywordsError(message=str(error))
    return WorkspaceSettings.of(keywords)
