"""Settings of every process, read once from environment variables.

Each process builds one Settings at start with Settings.from_env() and
calls require() for what it cannot run without, so that a missing value
stops it at once with the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields


class SettingsError(Exception):
    """A setting is missing or malformed."""


LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
LOG_FORMATS = frozenset({"auto", "json", "console"})


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    least: int = 1,
    most: int | None = None,
) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < least or (most is not None and value > most):
        upper = "" if most is None else f" and at most {most}"
        raise SettingsError(f"{name} must be at least {least}{upper}, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    """A TCP port; 0 where it means none, or any free one."""
    return _int(env, name, default, least=0, most=65535)


def _choice(
    env: Mapping[str, str], name: str, default: str, allowed: frozenset[str]
) -> str:
    """One of allowed, matched whatever its case."""
    raw = env.get(name, "") or default
    for choice in allowed:
        if raw.lower() == choice.lower():
            return choice
    choices = ", ".join(sorted(allowed))
    raise SettingsError(f"{name} must be one of {choices}, got {raw!r}")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default="", repr=False)
    redis_url: str = field(default="", repr=False)
    whatsapp_app_secret: str = field(default="", repr=False)
    whatsapp_verify_token: str = field(default="", repr=False)
    dev_api_key: str = field(default="", repr=False)
    erasure_key: str = field(default="", repr=False)
    api_key_pepper: str = field(default="", repr=False)

    bind_host: str = "127.0.0.1"
    gateway_port: int = 8000
    ingest_http_port: int = 8080
    ingest_grpc_port: int = 50051
    metrics_grpc_port: int = 50052
    contacts_grpc_port: int = 50053
    metrics_target: str = "127.0.0.1:50052"
    contacts_target: str = "127.0.0.1:50053"
    ingest_target: str = "127.0.0.1:50051"

    log_level: str = "INFO"
    log_format: str = "auto"
    graphiql: bool = False
    graphql_introspection: bool = False
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 20
    graphql_max_tokens: int = 2000
    graphql_max_cost: int = 50_000
    subscriptions_per_connection: int = 10
    websocket_allowed_origins: tuple[str, ...] = ()
    api_rate_limit: str = "1200/minute"
    api_key_recheck_s: float = 2.0
    migrate_on_start: bool = True
    reply_window_hours: int = 24
    inactive_after_failures: int = 3
    route_cache_seconds: int = 60
    ingest_max_in_flight: int = 256
    ingest_body_timeout_s: float = 10.0
    ingest_receive_buffer_mb: int = 64
    ingest_batch_max_events: int = 500
    ingest_batch_wait_ms: int = 2
    keyword_cache_seconds: int = 30
    unmatched_after_seconds: int = 3600
    grpc_timeout_s: float = 10.0
    grpc_max_message_bytes: int = 32 * 1024 * 1024
    grpc_tls_cert: str = ""
    grpc_tls_key: str = ""
    grpc_tls_ca: str = ""
    metrics_prometheus_port: int = 0
    contacts_prometheus_port: int = 0
    data_dir: str = ".data"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        metrics_port = _port(env, "METRICS_GRPC_PORT", 50052)
        contacts_port = _port(env, "CONTACTS_GRPC_PORT", 50053)
        ingest_port = _port(env, "INGEST_GRPC_PORT", 50051)
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            whatsapp_app_secret=env.get("WHATSAPP_APP_SECRET", ""),
            whatsapp_verify_token=env.get("WHATSAPP_VERIFY_TOKEN", ""),
            dev_api_key=env.get("DEV_API_KEY", ""),
            erasure_key=env.get("ERASURE_KEY", ""),
            api_key_pepper=env.get("API_KEY_PEPPER", ""),
            bind_host=env.get("BIND_HOST", "127.0.0.1"),
            gateway_port=_port(env, "GATEWAY_PORT", 8000),
            ingest_http_port=_port(env, "INGEST_HTTP_PORT", 8080),
            ingest_grpc_port=ingest_port,
            metrics_grpc_port=metrics_port,
            contacts_grpc_port=contacts_port,
            metrics_target=env.get("METRICS_TARGET", f"127.0.0.1:{metrics_port}"),
            contacts_target=env.get("CONTACTS_TARGET", f"127.0.0.1:{contacts_port}"),
            ingest_target=env.get("INGEST_TARGET", f"127.0.0.1:{ingest_port}"),
            log_level=_choice(env, "LOG_LEVEL", "INFO", LOG_LEVELS),
            log_format=_choice(env, "LOG_FORMAT", "auto", LOG_FORMATS),
            graphiql=_bool(env, "GRAPHIQL", False),
            graphql_introspection=_bool(env, "GRAPHQL_INTROSPECTION", False),
            graphql_max_depth=_int(env, "GRAPHQL_MAX_DEPTH", 12),
            graphql_max_aliases=_int(env, "GRAPHQL_MAX_ALIASES", 20),
            graphql_max_tokens=_int(env, "GRAPHQL_MAX_TOKENS", 2000),
            graphql_max_cost=_int(env, "GRAPHQL_MAX_COST", 50_000),
            subscriptions_per_connection=_int(env, "SUBSCRIPTIONS_PER_CONNECTION", 10),
            websocket_allowed_origins=tuple(
                origin.strip()
                for origin in env.get("WEBSOCKET_ALLOWED_ORIGINS", "").split(",")
                if origin.strip()
            ),
            api_rate_limit=env.get("API_RATE_LIMIT", "1200/minute"),
            api_key_recheck_s=float(_int(env, "API_KEY_RECHECK_SECONDS", 2)),
            migrate_on_start=_bool(env, "MIGRATE_ON_START", True),
            reply_window_hours=_int(env, "REPLY_WINDOW_HOURS", 24, least=0),
            inactive_after_failures=_int(env, "INACTIVE_AFTER_FAILURES", 3),
            route_cache_seconds=_int(env, "ROUTE_CACHE_SECONDS", 60, least=0),
            ingest_max_in_flight=_int(env, "INGEST_MAX_IN_FLIGHT", 256),
            ingest_body_timeout_s=float(_int(env, "INGEST_BODY_TIMEOUT_SECONDS", 10)),
            ingest_receive_buffer_mb=_int(env, "INGEST_RECEIVE_BUFFER_MB", 64),
            ingest_batch_max_events=_int(env, "INGEST_BATCH_MAX_EVENTS", 500),
            ingest_batch_wait_ms=_int(env, "INGEST_BATCH_WAIT_MS", 2, least=0),
            keyword_cache_seconds=_int(env, "KEYWORD_CACHE_SECONDS", 30, least=0),
            unmatched_after_seconds=_int(env, "UNMATCHED_AFTER_SECONDS", 3600, least=0),
            grpc_timeout_s=float(_int(env, "GRPC_TIMEOUT_SECONDS", 10)),
            grpc_max_message_bytes=_int(
                env, "GRPC_MAX_MESSAGE_BYTES", 32 * 1024 * 1024
            ),
            grpc_tls_cert=env.get("GRPC_TLS_CERT", ""),
            grpc_tls_key=env.get("GRPC_TLS_KEY", ""),
            grpc_tls_ca=env.get("GRPC_TLS_CA", ""),
            metrics_prometheus_port=_port(env, "METRICS_PROMETHEUS_PORT", 0),
            contacts_prometheus_port=_port(env, "CONTACTS_PROMETHEUS_PORT", 0),
            data_dir=env.get("XOBITO_DATA_DIR", ".data"),
        )

    def require(self, *names: str) -> None:
        """Raise SettingsError naming the first of names that is empty."""
        known = {f.name for f in fields(self)}
        for name in names:
            if name not in known:
                raise ValueError(f"no setting called {name}")
            if not getattr(self, name):
                raise SettingsError(f"{name.upper()} is not set")
