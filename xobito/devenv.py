"""The development environment that `xobito run` sets up and remembers.

`xobito run` writes the settings it chose (the local servers' URLs and the
generated secrets) to .data/dev.env, so that a second run reuses them and
other commands in another terminal (`xobito simulate`, `xobito apikey`)
find the running stack without any variable set.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from xobito.settings import Settings

DEV_ENV_FILE = "dev.env"
# The workspace of DEV_API_KEY.
DEV_WORKSPACE = "dev"
GENERATED_SECRETS = (
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "DEV_API_KEY",
    "ERASURE_KEY",
    "API_KEY_PEPPER",
)
# What a development machine serves that a deployment does not.
DEVELOPMENT_DEFAULTS = {
    "GRAPHIQL": "true",
    "GRAPHQL_INTROSPECTION": "true",
    "METRICS_PROMETHEUS_PORT": "9464",
    "CONTACTS_PROMETHEUS_PORT": "9465",
}


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XOBITO_DATA_DIR", ".data"))


def read(directory: Path) -> dict[str, str]:
    path = directory / DEV_ENV_FILE
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def write(directory: Path, values: Mapping[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / DEV_ENV_FILE
    lines = ["# Written by `xobito run`; the environment overrides it."]
    lines += [f"{name}={value}" for name, value in sorted(values.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def generate_secret(name: str) -> str:
    if name == "DEV_API_KEY":
        from gateway.apikeys import new_key

        return new_key()
    return secrets.token_urlsafe(24)


def settings() -> Settings:
    """Settings for a command: the environment over the remembered dev.env."""
    merged = {**read(data_dir()), **os.environ}
    return Settings.from_env(merged)
