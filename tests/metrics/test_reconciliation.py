"""`xobito reconcile`: counters rebuilt from the rows, drift reported."""

from __future__ import annotations

import random
import subprocess
import sys

import redis

from tests.counting import counted, shown
from tests.metrics.helpers import Metrics, message, status
from tests.stack import Servers


def xobito_reconcile(servers: Servers, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, against the test's servers."""
    return subprocess.run(
        [sys.executable, "-m", "xobito", "reconcile", *args],
        env={
            "DATABASE_URL": servers.postgres.url,
            "REDIS_URL": servers.valkey.url,
            "XOBITO_DATA_DIR": "/nonexistent",
            "PATH": "",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def busy_campaign(metrics: Metrics, seed: int = 3) -> str:
    """A campaign whose recipients went every which way."""
    rng = random.Random(seed)
    campaign_id = metrics.create().id
    phones = [f"1650555{seed}{n:03d}" for n in range(40)]
    metrics.add(campaign_id, *phones)
    sends = [(phone, f"wamid.{phone}", 0) for phone in phones[:30]]
    metrics.send(campaign_id, *sends)
    metrics.reject(campaign_id, phones[-1], 131009)
    values = ["sent", "delivered", "read", "failed"]
    metrics.record(
        *(
            status(wamid, rng.choice(values), rng.randint(1, 90), code=131026)
            for _, wamid, _ in sends
            for _ in range(2)
        ),
        messages=[message(f"wamid.in{seed}", phones[0], 300)],
    )
    return campaign_id


def corrupt(metrics: Metrics, campaign_id: str, field: str, by: int) -> None:
    """Change a counter behind the service's back, as lost writes would."""
    client = redis.Redis.from_url(metrics.servers.valkey.url)
    client.hincrby(f"metrics:{{{campaign_id}}}:counters", field, by)


def test_reconcile_reports_the_drift_it_fixed_field_by_field(
    metrics: Metrics,
) -> None:
    campaign_id = busy_campaign(metrics)
    truth = metrics.campaign(campaign_id)
    corrupt(metrics, campaign_id, "read", 3)

    done = xobito_reconcile(metrics.servers, campaign_id)

    assert done.returncode == 0, done.stderr
    read = truth.counters.read
    assert done.stdout.splitlines() == [
        f"{campaign_id}: drift fixed (field: redis -> rows)",
        f"  read: {read + 3} -> {read}",
        "1 campaign(s) checked, 1 repaired",
    ]


def test_after_reconcile_the_counters_equal_the_rows(metrics: Metrics) -> None:
    campaign_id = busy_campaign(metrics)
    truth = counted(metrics.rows(campaign_id))
    corrupt(metrics, campaign_id, "read", 3)
    corrupt(metrics, campaign_id, "replied", -1)
    drifted = shown(metrics.campaign(campaign_id))

    xobito_reconcile(metrics.servers, campaign_id)

    assert drifted != truth
    assert shown(metrics.campaign(campaign_id)) == truth


def test_a_second_reconcile_finds_no_drift(metrics: Metrics) -> None:
    campaign_id = busy_campaign(metrics)
    corrupt(metrics, campaign_id, "sent", -2)
    xobito_reconcile(metrics.servers, campaign_id)

    again = xobito_reconcile(metrics.servers, campaign_id)

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == f"{campaign_id}: no drift"


def test_reconcile_without_a_campaign_checks_every_campaign(
    metrics: Metrics,
) -> None:
    healthy = busy_campaign(metrics, seed=4)
    drifted = busy_campaign(metrics, seed=5)
    corrupt(metrics, drifted, "pending", 1)

    done = xobito_reconcile(metrics.servers)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{healthy}: no drift",
        f"{drifted}: drift fixed (field: redis -> rows)",
        "  pending: 10 -> 9",
        "2 campaign(s) checked, 1 repaired",
    ]
    assert metrics.campaign(drifted).recipient_total == 40


def test_reconcile_of_an_unknown_campaign_says_so(metrics: Metrics) -> None:
    done = xobito_reconcile(metrics.servers, "cmp_nope")

    assert done.returncode == 1
    assert "no such campaign" in done.stderr


def test_reconcile_rebuilds_counters_redis_lost_entirely(metrics: Metrics) -> None:
    campaign_id = busy_campaign(metrics)
    truth = metrics.campaign(campaign_id)
    redis.Redis.from_url(metrics.servers.valkey.url).flushdb()

    done = xobito_reconcile(metrics.servers, campaign_id)

    # A missing hash is rebuilt from the rows, so there is nothing to fix.
    assert done.stdout.splitlines()[0] == f"{campaign_id}: no drift"
    assert metrics.campaign(campaign_id) == truth
