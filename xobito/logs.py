"""Structured logging for every process: JSON lines, or colours on a TTY.

Every line written while a span is current carries its trace_id and
span_id, so that a trace's log lines can be found in any process it
crossed. Phone numbers and message text never go into INFO lines or
above; log them, when needed at all, at DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import orjson
import structlog
from opentelemetry import trace


def add_trace_ids(
    logger: object, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Add the current span's trace_id and span_id, in W3C hex form."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = trace.format_trace_id(context.trace_id)
        event["span_id"] = trace.format_span_id(context.span_id)
    return event


def configure(level: str = "INFO", fmt: str = "auto", service: str = "") -> None:
    """Route structlog and the standard library's logging to stdout.

    structlog's own lines are rendered and written by structlog alone;
    the standard library's logging (uvicorn's, gRPC's) goes through a
    handler that renders its records the same way.
    """
    if fmt == "auto":
        fmt = "console" if sys.stdout.isatty() else "json"

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer()
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_json)

    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=_StdoutLogger,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if service:
        structlog.contextvars.bind_contextvars(service=service)


class _StdoutLogger(structlog.WriteLogger):
    """Writes rendered lines to stdout, under the name it was asked for.

    A quarter of the CPU of a line through the standard library's
    logging, which structlog's own lines have no use for.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(sys.stdout)
        self.name = name


def _json(event: structlog.types.EventDict, **_: Any) -> str:
    try:
        return orjson.dumps(event, default=repr, option=_ANY_KEYS).decode()
    except TypeError:
        # orjson refuses integers wider than 64 bits; json takes them.
        return json.dumps(event, default=repr)


_ANY_KEYS = orjson.OPT_NON_STR_KEYS
