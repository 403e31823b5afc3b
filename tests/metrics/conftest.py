from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.metrics.helpers import Metrics
from tests.stack import Stack


@pytest.fixture(scope="session")
def metrics_stack(stack: Stack) -> Stack:
    """The metrics service of the running system, with the contacts service
    it tells of the sends Meta refused. The tests reach it over gRPC alone."""
    return stack


@pytest.fixture
def metrics(metrics_stack: Stack, clean: None) -> Iterator[Metrics]:
    """A client of the metrics service, on empty tables."""
    with metrics_stack.channel("metrics") as channel:
        yield Metrics(channel, metrics_stack.servers)
