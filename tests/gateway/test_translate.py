"""How a failed call to a backing service reaches the client."""

from __future__ import annotations

import grpc
import pytest

from gateway.clients import translate
from gateway.errors import UnavailableError, UpstreamError


def failed(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="detail"
    )


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    ],
)
def test_a_call_the_service_could_not_finish_is_unavailable(
    code: grpc.StatusCode,
) -> None:
    assert isinstance(translate(failed(code), "metrics"), UnavailableError)


def test_an_internal_failure_is_an_upstream_error() -> None:
    error = translate(failed(grpc.StatusCode.INTERNAL), "metrics")

    assert isinstance(error, UpstreamError)
    assert "detail" not in str(error)
