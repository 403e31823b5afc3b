"""Subscriptions executed once per update, however many watch them.

Every subscriber of a campaign's counters wants the same newest state.
Running the subscription's selection for each of them (graphql-core and
strawberry, some 0.3 ms of CPU each) would cost a thousand dashboards a
core; so subscribers of one workspace that send the same document,
variables and operation name share a *rendering*: one strawberry
subscription whose every result is serialized once. Each subscriber
receives that text under its own operation id, and only the newest when
it falls behind (a gateway.live.Hub, unpaced: the feed it reads is
paced already).

The rendering runs the document through the schema as any operation
runs, guards included; they depend on the document and variables alone.
What depends on the socket (its key, origin, revocation, cap of
subscriptions) is checked before a subscription starts, or closes it.
The workspace is part of the rendering's key: a workspace never shares
one with another.

Only a subscription whose one root field is in SHARED_FIELDS is shared;
any other operation (recipientUpdates, whose every row matters; a query
over the socket; a document that does not parse) runs per subscriber, as
strawberry runs it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from strawberry.schema import BaseSchema
from strawberry.types.execution import ExecutionResult, PreExecutionError

from gateway.context import Context
from gateway.live import Hub, subscriptions

SHARED_FIELDS = frozenset({"campaignCounters"})


@dataclass(frozen=True)
class Rendering:
    """What subscribers share: the same operation, in the same workspace."""

    workspace: str
    query: str
    variables: str  # JSON with sorted keys, so that equal means equal
    operation_name: str | None
    root: str  # the subscription field
    # The first subscriber's, without its socket: it runs the rendering.
    context: Context = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Frame:
    """One result, serialized: the payload of a `next` message, or of the
    `error` message that ends the subscription before it starts."""

    type: Literal["next", "error"]
    payload: str


class Broadcast:
    """Renderings of shared subscriptions, one per distinct Rendering."""

    def __init__(
        self,
        schema: BaseSchema,
        *,
        max_tokens: int,
        fields: frozenset[str] = SHARED_FIELDS,
    ) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        self.fields = fields
        self._hub: Hub[Rendering, Frame] = Hub(
            self._render, interval_s=0, name="shared subscription", counted=False
        )

    def renderings(self) -> int:
        """How many renderings run."""
        return self._hub.active_campaigns()

    def rendering_of(
        self,
        query: str,
        variables: object,
        operation_name: str | None,
        context: Context,
    ) -> Rendering | None:
        """The rendering a subscription may share, or None to run it alone."""
        if context.workspace_id is None or not isinstance(variables, dict | None):
            return None
        root = shared_root(query, operation_name, self.max_tokens)
        if root not in self.fields:
            return None
        return Rendering(
            workspace=context.workspace_id,
            query=query,
            # Not orjson's bytes: they keep its 4 KiB buffer per subscriber.
            variables=_dumps(variables or {}, orjson.OPT_SORT_KEYS),
            operation_name=operation_name,
            root=root,
            context=replace(context, websocket=None, connection_params=None),
        )

    async def subscribe(self, rendering: Rendering) -> AsyncGenerator[Frame, None]:
        """The rendering's newest frame now, then each newer one."""
        counted_as = {"subscription": rendering.root}
        subscriptions.add(1, counted_as)
        try:
            async with aclosing(self._hub.subscribe(rendering)) as frames:
                async for frame in frames:
                    yield frame
        finally:
            subscriptions.add(-1, counted_as)

    async def _render(self, rendering: Rendering) -> AsyncGenerator[Frame, None]:
        variables = orjson.loads(rendering.variables) or None
        results = await self.schema.stream(
            rendering.query,
            variable_values=variables,
            context_value=rendering.context,
            operation_name=rendering.operation_name,
        )
        async with aclosing(results):
            first = True
            async for result in results:
                if first and isinstance(result, PreExecutionError):
                    yield _error_frame(result.errors or [])
                    return
                if not isinstance(result, ExecutionResult):
                    # Incremental delivery (@defer, @stream) has no frames
                    # in graphql-transport-ws; strawberry refuses it too.
                    yield _error_frame([GraphQLError(_INCREMENTAL)])
                    return
                yield Frame("next", _dumps(_payload_of(result)))
                first = False


_INCREMENTAL = "Incremental delivery is not supported over graphql-transport-ws"


def _payload_of(result: ExecutionResult) -> dict[str, Any]:
    """What strawberry's handler sends as a `next` message's payload."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def _error_frame(errors: list[GraphQLError]) -> Frame:
    return Frame("error", _dumps([error.formatted for error in errors]))


def _dumps(value: object, option: int = 0) -> str:
    return orjson.dumps(value, option=option).decode()


@functools.lru_cache(maxsize=256)
def shared_root(query: str, operation_name: str | None, max_tokens: int) -> str:
    """The one root field of the document's subscription, or "" when the
    document is anything else (a query, several root fields, no such
    operation, not GraphQL at all)."""
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return ""
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    if operation_name is not None:
        operations = [
            operation
            for operation in operations
            if operation.name and operation.name.value == operation_name
        ]
    if len(operations) != 1 or operations[0].operation != OperationType.SUBSCRIPTION:
        return ""
    (root, *others) = operations[0].selection_set.selections
    if others or not isinstance(root, FieldNode):
        return ""
    return root.name.value
