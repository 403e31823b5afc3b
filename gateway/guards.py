"""What every GraphQL operation passes before it runs, and how an
unexpected failure reaches the client.

Documents are refused before execution when they are too long (tokens),
too deep, use too many aliases or would cost too much (see QueryCost), and
introspection only answers where settings allow it (development). A text
asked before is neither parsed nor validated again (see Documents); its
cost, which depends on the variables, is computed for each operation. An
error not written for clients is replaced by "Unexpected error." with a
reference; the gateway's log has the traceback under the same reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from functools import lru_cache, partial
from typing import Any

import structlog
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    parse,
    specified_rules,
    value_from_ast_untyped,
)
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import validate_document

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
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value:
                default = value_from_ast_untyped(definition.default_value)
                self.variables[name] = default
        self.definitions = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.fragments: dict[str, int] = {}

    def total(self) -> int:
        root = self.schema.get_root_type(self.operation.operation)
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
                    else self.schema.get_type(condition.name.value)
                )
                total += self.selection(node.selection_set, inner)
        return total

    def fragment(self, name: str) -> int:
        """Each fragment's cost is computed once; a cycle (refused by
        another rule) counts nothing."""
        if name not in self.fragments:
            self.fragments[name] = 0
            fragment = self.definitions.get(name)
            if fragment is not None:
                kind = self.schema.get_type(fragment.type_condition.name.value)
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
        if isinstance(size, float) and size.is_integer():
            size = int(size)  # as GraphQL's Int takes a variable of 250.0
        if not isinstance(size, int) or isinstance(size, bool):
            return DEFAULT_FIRST
        return max(0, min(size, MAX_FIRST))


def cost_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any],
    max_cost: int,
) -> list[GraphQLError]:
    """An error for each operation of the document costing over max_cost."""
    errors = []
    for node in document.definitions:
        if not isinstance(node, OperationDefinitionNode):
            continue
        cost = QueryCost(schema, document, node, variables).total()
        if cost > max_cost:
            errors.append(
                GraphQLError(
                    f"query cost {cost} exceeds the maximum of {max_cost}", node
                )
            )
    return errors


Checked = tuple[DocumentNode, tuple[GraphQLError, ...]]


class Documents:
    """Documents parsed and validated once, by their text.

    What validation finds depends on the text alone (the rules are fixed
    for a schema), so a document asked again skips both steps; only its
    cost, which depends on the variables, is computed each time. Texts
    longer than MAX_CACHED_CHARS are checked afresh every time: a full
    cache then holds some 60 MB at worst (half a megabyte of syntax tree
    for the longest text), a few for the documents clients really send.
    """

    MAX_CACHED_CHARS = 4096

    def __init__(
        self,
        rules: Sequence[type[ASTValidationRule]],
        max_tokens: int,
        size: int = 128,
    ) -> None:
        self.rules = tuple(rules)
        self.max_tokens = max_tokens
        self.cached = lru_cache(maxsize=size)(self.check)

    def check(self, schema: GraphQLSchema, query: str) -> Checked:
        """The document, and what validation finds wrong with it.

        Raises GraphQLError when the text does not parse or has more
        tokens than allowed.
        """
        document = parse(query, max_tokens=self.max_tokens)
        errors = validate_document(schema, document, self.rules)
        return document, tuple(errors)

    def get(self, schema: GraphQLSchema, query: str) -> Checked:
        if len(query) > self.MAX_CACHED_CHARS:
            return self.check(schema, query)
        return self.cached(schema, query)


class CheckDocument(SchemaExtension):
    """Parses and validates through Documents, then refuses an operation
    whose cost exceeds max_cost.

    A text that does not parse is left to strawberry, which reports why.
    """

    def __init__(self, documents: Documents, max_cost: int) -> None:
        self.documents = documents
        self.max_cost = max_cost
        self.checked: Checked | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # For strawberry's own parse, of a text Documents refused.
        context.parse_options["max_tokens"] = self.documents.max_tokens
        if context.query is not None and context.graphql_document is None:
            with suppress(GraphQLError):
                self.checked = self.documents.get(context.schema._schema, context.query)
                context.graphql_document = self.checked[0]
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema._schema
        document = context.graphql_document
        assert document is not None, "validation follows a successful parse"
        if self.checked is not None and self.checked[0] is document:
            errors = list(self.checked[1])
        else:
            errors = validate_document(schema, document, self.documents.rules)
        if not errors:
            variables = context.variables or {}
            errors = cost_errors(schema, document, variables, self.max_cost)
        context.pre_execution_errors = errors
        yield


def guards(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The extensions each operation gets, fresh; the rules and the cache
    of checked documents are made once, here."""
    rules: list[type[ASTValidationRule]] = [
        *specified_rules,
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(
            max_alias_count=settings.graphql_max_aliases
        ).validation_rules,
    ]
    if not settings.graphql_introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    documents = Documents(rules, max_tokens=settings.graphql_max_tokens)
    return [
        partial(CheckDocument, documents, max_cost=settings.graphql_max_cost),
        MaskUnexpected,
    ]
