"""The CSV export of the 1,000,000-recipient campaign, and its memory.

The campaign is the one bench/recipients.py builds. Its table is
downloaded from `GET /campaigns/{id}/recipients.csv` into /dev/null while
the gateway's resident memory is sampled: the export streams page by
page, so the memory should stay flat whatever the campaign's size. By
default the download stops after DEFAULT_ROWS rows, which is enough to
see the rate and the memory; `make bench BENCH_ARGS="--export-rows
1000000"` downloads the whole table.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psutil

from bench import recipients as recipients_bench
from tests.stack import Stack

SAMPLE_EVERY_S = 0.1
MB = 1024 * 1024
DEFAULT_ROWS = 100_000


@dataclass
class Rss:
    """A process's resident memory before a run and at its peak."""

    before: int
    peak: int


@contextmanager
def sampled_rss(process: psutil.Process) -> Iterator[Rss]:
    """Sample process's RSS every SAMPLE_EVERY_S while the block runs."""
    rss = Rss(process.memory_info().rss, process.memory_info().rss)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY_S):
            rss.peak = max(rss.peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield rss
    finally:
        done.set()
        sampler.join()
        rss.peak = max(rss.peak, process.memory_info().rss)


def _download(url: str, api_key: str, rows: int) -> int:
    """The CSV's data rows, up to `rows`, the bytes thrown away as they
    come; the download is cut once it has that many."""
    lines = 0
    with (
        httpx.stream(
            "GET",
            url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=60,
        ) as reply,
        open(os.devnull, "wb") as sink,
    ):
        reply.raise_for_status()
        for chunk in reply.iter_bytes():
            # No name of the bench holds a line break: one line, one row.
            lines += chunk.count(b"\n")
            sink.write(chunk)
            if lines > rows:
                break
    return min(lines - 1, rows)  # less the header


def measure(
    stack: Stack,
    *,
    recipients: int = 1_000_000,
    export_rows: int = DEFAULT_ROWS,
    **_: Any,
) -> dict[str, Any]:
    campaign = recipients_bench.campaign(stack, recipients)
    gateway = psutil.Process(stack.procs["gateway"].pid)
    url = f"{stack.gateway_url}/campaigns/{campaign.id}/recipients.csv"
    wanted = min(export_rows, recipients)

    with sampled_rss(gateway) as rss:
        started = time.perf_counter()
        rows = _download(url, campaign.api_key, wanted)
        seconds = time.perf_counter() - started

    assert rows == wanted, f"exported {rows:,} rows of {wanted:,}"
    return {
        "export_1m": {
            "campaign_rows": recipients,
            "rows": rows,
            "seconds": round(seconds, 1),
            "rows_per_s": round(rows / seconds),
            "gateway_rss_peak_growth_mb": round((rss.peak - rss.before) / MB, 1),
        }
    }
