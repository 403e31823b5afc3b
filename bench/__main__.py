"""`make bench`: how fast the system is, measured on this machine.

Starts durable PostgreSQL and Valkey servers and the four services, as
`make run` does, runs each measurement, prints a table, and writes
bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    ceilings,
    export,
    filter_sendable,
    ingest,
    recipients,
    subscriptions,
)
from tests.stack import Stack, running_servers

RESULTS = Path(__file__).parent / "results" / "latest.json"
MEASURES: dict[str, Callable[..., dict[str, Any]]] = {
    "ceiling": ceilings.measure,
    "ingest": ingest.measure,
    "subscriptions": subscriptions.measure,
    "filter_sendable": filter_sendable.measure,
    "recipients_1m": recipients.measure,
    # After recipients_1m, whose campaign it exports.
    "export": export.measure,
}


def _flatten(results: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for name, value in results.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            continue  # query plans: their measure printed them
        else:
            rows.append((prefix + name, value))
    return rows


def _kept(only: list[str]) -> dict[str, Any]:
    """The figures of the last run, but those of the measures in only."""
    try:
        results: dict[str, Any] = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}
    measured = results.get("measured", {})
    for name in only:
        for key in measured.pop(name, {}).get("figures", ()):
            results.pop(key, None)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(MEASURES),
        help="run this measure only (repeatable); the others' figures in"
        " latest.json are kept, each with when it was measured",
    )
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument(
        "--export-rows",
        type=int,
        default=export.DEFAULT_ROWS,
        help="rows of the campaign the export measure downloads"
        f" (default {export.DEFAULT_ROWS:,}; --export-rows 1000000 for all)",
    )
    args = parser.parse_args()

    now = datetime.now(UTC).isoformat(timespec="seconds")
    results = _kept(args.only) if args.only else {}
    measured: dict[str, Any] = results.pop("measured", {})
    results.update(
        measured_at=now,
        machine=f"{platform.machine()}, {platform.python_version()}",
    )
    with (
        tempfile.TemporaryDirectory() as root,
        running_servers(Path(root), durable=True) as servers,
    ):
        stack = Stack(servers)
        try:
            stack.start()
            for name in args.only or MEASURES:
                print(f"measuring {name}…", flush=True)
                started = time.perf_counter()
                figures = MEASURES[name](
                    stack,
                    recipients=args.recipients,
                    export_rows=args.export_rows,
                )
                results.update(figures)
                measured[name] = {"at": now, "figures": sorted(figures)}
                print(f"  done in {time.perf_counter() - started:.0f} s")
        finally:
            stack.stop()

    results["measured"] = measured
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    width = max(len(name) for name, _ in _flatten(results))
    for name, value in _flatten(results):
        print(f"{name:<{width}}  {value}")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
