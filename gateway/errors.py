"""The errors resolvers raise, and which of them a client may read.

GatewayError is the root. Its public subclasses carry a message written
for API clients; any other exception is masked as "Unexpected error." so
that nothing internal leaks through GraphQL.
"""

from __future__ import annotations

from graphql import GraphQLError


class GatewayError(Exception):
    """Root of the gateway's own errors."""

    public = True


class BadRequestError(GatewayError):
    """The client asked for something malformed (a bad cursor, say)."""


class NotFoundError(GatewayError):
    """The thing does not exist, or belongs to another workspace."""


class UnavailableError(GatewayError):
    """A backing service did not answer in time; the client may retry."""


class UpstreamError(GatewayError):
    """A backing service failed unexpectedly."""

    public = False


def is_masked(error: GraphQLError) -> bool:
    """Hide errors raised by code that wasn't written for clients.

    Errors about the request itself (syntax, validation, variables that
    do not fit their types) come before any resolver runs, have no path,
    and stay readable.
    """
    original = error.original_error
    if original is None or error.path is None:
        return False
    if isinstance(original, GraphQLError):
        return False
    return not (isinstance(original, GatewayError) and original.public)
