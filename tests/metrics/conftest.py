from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.metrics.helpers import Metrics
from tests.stack import Servers, Stack


@pytest.fixture(scope="session")
def metrics_stack(servers: Servers) -> Iterator[Stack]:
    """The metrics service in its own process, with the contacts service it
    tells of the sends Meta refused."""
    stack = Stack(servers)
    try:
        stack.start("contacts", "metrics")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def metrics(metrics_stack: Stack, clean: None) -> Iterator[Metrics]:
    """A client of the metrics service, on empty tables."""
    with metrics_stack.channel("metrics") as channel:
        yield Metrics(channel, metrics_stack.servers)
