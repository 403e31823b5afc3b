"""The errors a service answers with, each tied to a gRPC status code.

Domain code raises these; the server's interceptor turns them into the
status code, and clients never compare message strings.
"""

from __future__ import annotations

import grpc


class ServiceError(Exception):
    """Root of the errors a service reports to its callers."""

    code = grpc.StatusCode.INTERNAL


class InvalidArgumentError(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class ConflictError(ServiceError):
    """The request contradicts what is recorded (e.g. a number's owner)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class UnavailableError(ServiceError):
    """A store the service needs cannot be reached; the call may be retried."""

    code = grpc.StatusCode.UNAVAILABLE
