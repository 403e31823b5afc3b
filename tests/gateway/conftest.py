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


ALLOWED_ORIGIN = "https://app.example.com"
SUBSCRIPTIONS_PER_CONNECTION = 4


def gateways_alone(
    servers: Servers, fakes: FakeServices, replicas: int = 1, **settings: str
) -> Iterator[list[Stack]]:
    """Gateway replicas in front of the fakes, started together."""
    stacks = [
        Stack(
            servers,
            extra_env={
                "METRICS_TARGET": fakes.metrics_target,
                "CONTACTS_TARGET": fakes.contacts_target,
                **settings,
            },
        )
        for _ in range(replicas)
    ]
    try:
        for stack in stacks:
            stack.spawn("gateway")
        for stack in stacks:
            stack.wait_ready("gateway")
        yield stacks
    finally:
        for stack in stacks:
            stack.stop()


def gateway_alone(
    servers: Servers, fakes: FakeServices, **settings: str
) -> Iterator[Stack]:
    for (stack,) in gateways_alone(servers, fakes, **settings):
        yield stack


@pytest.fixture(scope="session")
def gateway(servers: Servers, fakes: FakeServices) -> Iterator[Stack]:
    """The gateway alone, in its own process, in front of the fakes.

    Its settings are a deployment's defaults, but for a few made small
    or short enough to test.
    """
    yield from gateway_alone(
        servers,
        fakes,
        WEBSOCKET_ALLOWED_ORIGINS=ALLOWED_ORIGIN,
        SUBSCRIPTIONS_PER_CONNECTION=str(SUBSCRIPTIONS_PER_CONNECTION),
        API_KEY_RECHECK_SECONDS="1",
    )


@pytest.fixture(scope="session")
def dev_gateway(servers: Servers, fakes: FakeServices) -> Iterator[Stack]:
    """A gateway with what `xobito run` turns on: GraphiQL, introspection."""
    yield from gateway_alone(
        servers, fakes, GRAPHIQL="true", GRAPHQL_INTROSPECTION="true"
    )


# Small enough that a test reaches each limit in a few requests.
STRICT = {
    "GRAPHQL_MAX_DEPTH": "4",
    "GRAPHQL_MAX_ALIASES": "3",
    "GRAPHQL_MAX_TOKENS": "40",
    "API_RATE_LIMIT": "5/minute",
}


@pytest.fixture(scope="session")
def strict_gateways(
    servers: Servers, fakes: FakeServices
) -> Iterator[tuple[Stack, Stack]]:
    """Two replicas with tight limits, sharing PostgreSQL and Redis."""
    for replicas in gateways_alone(servers, fakes, replicas=2, **STRICT):
        yield replicas[0], replicas[1]


@pytest.fixture
def strict_key(servers: Servers) -> str:
    """A key of its own, so that no other test spends its rate."""
    return make_key(servers, "gw-two")
