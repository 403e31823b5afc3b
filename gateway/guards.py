"""What every GraphQL operation passes before it runs, and how an
unexpected failure reaches the client.

Documents are refused before execution when they are too long (tokens),
too deep or use too many aliases, and introspection only answers where
settings allow it (development). An error not written for clients is
replaced by "Unexpected error." with a reference; the gateway's log has
the traceback under the same reference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial

import structlog
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

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


def guards(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """A fresh set of extensions for each operation."""
    chosen: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        MaskUnexpected,
    ]
    if not settings.graphql_introspection:
        chosen.append(DisableIntrospection)
    return chosen
