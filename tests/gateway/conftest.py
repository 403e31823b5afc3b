from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.fakes import FakeServices, running_fakes
from tests.gateway.support import Keys, make_key
from tests.stack import Servers, Stack


@pytest.fixture(scope="session")
def keys(servers: Servers) -> Keys:
    return Keys(one=make_key(servers, "gw-one"), two=make_key(servers, "gw-two"))


@pytest.fixture(scope="session")
def fakes() -> Iterator[FakeServices]:
    yield from running_fakes()


@pytest.fixture(scope="session")
def gateway(servers: Servers, fakes: FakeServices) -> Iterator[Stack]:
    """The gateway alone, in its own process, in front of the fakes."""
    stack = Stack(
        servers,
        extra_env={
            "METRICS_TARGET": fakes.metrics_target,
            "CONTACTS_TARGET": fakes.contacts_target,
        },
    )
    try:
        stack.start("gateway")
        yield stack
    finally:
        stack.stop()
