"""`make bench --only X` measures X again and keeps the other figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.__main__ as bench_main


def test_a_partial_run_keeps_the_figures_of_the_other_measures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "latest.json"
    results.write_text(
        json.dumps(
            {
                "measured_at": "2026-01-01T00:00:00+00:00",
                "ingest": {"statuses_per_s": 1.0},
                "overload": {"shed_pct": 2.0},
                "filter_sendable_10k_p95_ms": 3.0,
                "measured": {
                    "ingest": {"at": "then", "figures": ["ingest", "overload"]},
                    "filter_sendable": {
                        "at": "then",
                        "figures": ["filter_sendable_10k_p95_ms"],
                    },
                },
            }
        )
    )
    monkeypatch.setattr(bench_main, "RESULTS", results)

    kept = bench_main._kept(["ingest"])

    assert "ingest" not in kept and "overload" not in kept
    assert kept["filter_sendable_10k_p95_ms"] == 3.0
    assert kept["measured"] == {
        "filter_sendable": {"at": "then", "figures": ["filter_sendable_10k_p95_ms"]}
    }


def test_without_earlier_figures_a_partial_run_starts_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path / "latest.json")
    assert bench_main._kept(["ingest"]) == {}
