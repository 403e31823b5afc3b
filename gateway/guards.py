"""What every GraphQL operation passes before it runs, and how an
unexpected failure reaches the client.

Documents are refused before execution when they are too long (tokens),
too deep, use too many aliases or would cost too much (see QueryCost), and
introspection only answers where settings allow it (development). An
error not written for clients is replaced by "Unexpected error." with a
reference; the gateway's log has the traceback under the same reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import structlog
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
    value_from_ast_untyped,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from gateway.cursors import DEFAULT_FIRST, MAX_FIRST
from gateway.errors import is_masked
from xobito.settings import Settings

log = structlog.get_logger(__name__)


def new_reference() -> str:
    return uuid.uuid4().hex[:16]


def log_unexpected(error: GraphQLError) -> None:
    """Log the failure, and mark the error with the reference to show."""
    reference = new_reference()
    error.extensions = {**(error.extensions or {}), "reference": reference}
    log.error(
        "resolver failed",
        reference=reference,
        path=error.path,
        exc_info=error.original_error,
    )


class MaskUnexpected(MaskErrors):
    """MaskErrors, keeping the reference that log_unexpected gave."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_masked)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        reference = (error.extensions or {}).get("reference")
        if reference is None:
            log_unexpected(error)
            reference = error.extensions["reference"]  # type: ignore[index]
        masked = super().anonymise_error(error)
        masked.extensions = {"reference": reference}
        return masked


class QueryCost:
    """What an operation costs: each field 1, and a paged field (one taking
    `first`) its selection times its page size, so that the cost bounds the
    rows the operation may ask for.
    """

    def __init__(
        self,
        context: ValidationContext,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.context = context
        self.operation = operation
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value:
                default = value_from_ast_untyped(definition.default_value)
                self.variables[name] = default
        self.fragments: dict[str, int] = {}

    def total(self) -> int:
        root = self.context.schema.get_root_type(self.operation.operation)
        return self.selection(self.operation.selection_set, root)

    def selection(
        self, selection_set: SelectionSetNode, kind: GraphQLNamedType | None
    ) -> int:
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, kind)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = (
                    kind
                    if condition is None
                    else self.context.schema.get_type(condition.name.value)
                )
                total += self.selection(node.selection_set, inner)
        return total

    def fragment(self, name: str) -> int:
        """Each fragment's cost is computed once; a cycle (refused by
        another rule) counts nothing."""
        if name not in self.fragments:
            self.fragments[name] = 0
            fragment = self.context.get_fragment(name)
            if fragment is not None:
                kind = self.context.schema.get_type(fragment.type_condition.name.value)
                self.fragments[name] = self.selection(fragment.selection_set, kind)
        return self.fragments[name]

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        if node.selection_set is None:
            return 1
        fields = (
            parent.fields
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
            else {}
        )
        definition = fields.get(node.name.value)
        kind = get_named_type(definition.type) if definition else None
        size = self.page_size(node) if definition and "first" in definition.args else 1
        return 1 + size * self.selection(node.selection_set, kind)

    def page_size(self, node: FieldNode) -> int:
        """The field's `first`, or the size a page has without it."""
        first = next(
            (arg.value for arg in node.arguments or () if arg.name.value == "first"),
            None,
        )
        size = None if first is None else value_from_ast_untyped(first, self.variables)
        if not isinstance(size, int) or isinstance(size, bool):
            return DEFAULT_FIRST
        return max(0, min(size, MAX_FIRST))


class QueryCostLimiter(AddValidationRules):
    """Refuses an operation whose cost (see QueryCost) exceeds max_cost."""

    def __init__(self, max_cost: int) -> None:
        super().__init__([])
        self.max_cost = max_cost

    def on_operation(self) -> Iterator[None]:
        variables = self.execution_context.variables or {}
        max_cost = self.max_cost

        class QueryCostRule(ValidationRule):
            def enter_operation_definition(
                self, node: OperationDefinitionNode, *_: object
            ) -> None:
                cost = QueryCost(self.context, node, variables).total()
                if cost > max_cost:
                    self.report_error(
                        GraphQLError(
                            f"query cost {cost} exceeds the maximum of {max_cost}",
                            node,
                        )
                    )

        self.validation_rules = [QueryCostRule]
        yield from super().on_operation()


def guards(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """A fresh set of extensions for each operation."""
    chosen: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        partial(QueryCostLimiter, max_cost=settings.graphql_max_cost),
        MaskUnexpected,
    ]
    if not settings.graphql_introspection:
        chosen.append(DisableIntrospection)
    return chosen
