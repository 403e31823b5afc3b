"""The log lines of a process: one JSON object a line, whoever wrote it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

_SCRIPT = """
import logging, structlog
from opentelemetry import trace
from xobito import logs, telemetry

telemetry.configure("test")
logs.configure("INFO", "json", service="ingest")
log = structlog.get_logger("services.ingest.app")
with trace.get_tracer("test").start_as_current_span("webhook"):
    log.info("webhook", http_status=200, events={"status": 3}, big=2**70)
    log.debug("webhook body", text="never at INFO")
logging.getLogger("uvicorn.error").warning("from the standard library")
"""


def _lines() -> list[dict[str, Any]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_structlog_and_standard_library_lines_are_json_alike() -> None:
    ours, theirs = _lines()

    assert ours["event"] == "webhook"
    assert ours["events"] == {"status": 3}
    assert ours["big"] == 2**70
    assert (ours["level"], ours["logger"], ours["service"]) == (
        "info",
        "services.ingest.app",
        "ingest",
    )
    assert len(ours["trace_id"]) == 32
    assert len(ours["span_id"]) == 16
    assert ours["timestamp"].endswith("Z")
    assert theirs["event"] == "from the standard library"
    assert (theirs["level"], theirs["logger"]) == ("warning", "uvicorn.error")
    assert theirs["service"] == "ingest"
