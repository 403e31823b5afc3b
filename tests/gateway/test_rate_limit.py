"""Each API key has a budget of requests (5 a minute on the strict
replicas), counted in Redis across every replica."""

from __future__ import annotations

import httpx

from tests.gateway.support import make_key
from tests.gateway.wsclient import socket
from tests.stack import Servers, Stack

QUERY = {"query": "{ campaigns { totalCount } }"}


def post(stack: Stack, key: str) -> httpx.Response:
    return stack.http.post(
        f"{stack.gateway_url}/graphql",
        json=QUERY,
        headers={"Authorization": f"Bearer {key}"},
    )


def test_past_its_budget_a_key_is_answered_429_with_retry_after(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    strict, _ = strict_gateways

    within = [post(strict, strict_key).status_code for _ in range(5)]
    over = post(strict, strict_key)

    assert within == [200] * 5
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert "rate limit" in over.json()["errors"][0]["message"]


def test_the_budget_holds_across_replicas(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    first, second = strict_gateways

    within = [post(replica, strict_key).status_code for replica in [first, second] * 2]
    last = post(first, strict_key)
    over = [post(replica, strict_key).status_code for replica in (first, second)]

    assert within == [200] * 4
    assert last.status_code == 200
    assert over == [429, 429]


def test_one_key_spending_its_budget_leaves_another_key_alone(
    strict_gateways: tuple[Stack, Stack], servers: Servers
) -> None:
    strict, _ = strict_gateways
    spender, other = make_key(servers, "gw-two"), make_key(servers, "gw-two")

    for _ in range(6):
        post(strict, spender)

    assert post(strict, spender).status_code == 429
    assert post(strict, other).status_code == 200


def test_the_csv_export_spends_the_same_budget(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    strict, _ = strict_gateways
    for _ in range(5):
        post(strict, strict_key)

    export = strict.http.get(
        f"{strict.gateway_url}/campaigns/cmp_nowhere/recipients.csv",
        headers={"Authorization": f"Bearer {strict_key}"},
    )

    assert export.status_code == 429
    assert "Retry-After" in export.headers


def test_an_unknown_key_is_refused_before_it_counts(
    strict_gateways: tuple[Stack, Stack],
) -> None:
    strict, _ = strict_gateways

    replies = [post(strict, "xo_not-a-real-key").status_code for _ in range(7)]

    assert replies == [401] * 7


def test_operations_over_a_websocket_spend_the_same_budget(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    strict, _ = strict_gateways

    with socket(strict.gateway_url) as ws:
        assert ws.init(strict_key) == {"type": "connection_ack"}
        answers = []
        for operation in map(str, range(6)):
            ws.subscribe(QUERY["query"], operation=operation)
            answers.append(ws.receive())
            if answers[-1]["type"] == "next":
                assert ws.receive() == {"id": operation, "type": "complete"}

    assert [answer["type"] for answer in answers] == ["next"] * 5 + ["error"]
    refusal = answers[-1]["payload"][0]
    assert "rate limit" in refusal["message"]
    assert refusal["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= refusal["extensions"]["retryAfter"] <= 60
    assert post(strict, strict_key).status_code == 429
