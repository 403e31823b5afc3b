"""The `xobito` command: run the system, and the operator's tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg

from xobito import devenv, logs
from xobito.errors import NotFoundError
from xobito.settings import Settings, SettingsError


def _run(args: argparse.Namespace) -> int:
    try:
        from xobito.supervisor import run
    except ImportError:
        print(
            "xobito: `xobito run` needs the local extra: pip install 'xobito[local]'",
            file=sys.stderr,
        )
        return 2
    return run()


def _migrate(args: argparse.Namespace) -> int:
    from xobito.database import migrate

    settings = devenv.settings()
    settings.require("database_url")
    applied = migrate(settings.database_url)
    print(f"{applied} migration(s) applied")
    return 0


def _apikey(args: argparse.Namespace) -> int:
    from gateway import apikeys

    settings = devenv.settings()
    settings.require("database_url")
    if args.action in {"create", "rotate"}:
        # Keys are stored peppered: without it the gateway would never match.
        settings.require("api_key_pepper")
    with psycopg.connect(settings.database_url) as conn:
        try:
            return _APIKEY_ACTIONS[args.action](conn, settings.api_key_pepper, args)
        except (
            apikeys.InvalidWorkspaceError,
            apikeys.InvalidKeyNameError,
            apikeys.KeyNotFoundError,
        ) as exc:
            print(f"xobito: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, ValueError) else 1


def _apikey_create(
    conn: psycopg.Connection, pepper: str, args: argparse.Namespace
) -> int:
    from gateway.apikeys import create_key

    key = create_key(conn, args.workspace, pepper, name=args.name)
    print(f"A new API key for workspace {args.workspace}; it is shown once:")
    print(key)
    return 0


def _apikey_list(
    conn: psycopg.Connection, pepper: str, args: argparse.Namespace
) -> int:
    from gateway.apikeys import list_keys

    now = datetime.now(UTC)
    for info in list_keys(conn, args.workspace):
        if info.revoked_at is None:
            state = "active"
        elif info.revoked_at > now:
            state = f"active until {info.revoked_at:%Y-%m-%d %H:%M:%S}"
        else:
            state = f"revoked {info.revoked_at:%Y-%m-%d}"
        print(
            f"{info.id:>5}  {info.workspace_id:<20} {info.name or '-':<16}"
            f" {info.prefix}…  {info.created_at:%Y-%m-%d %H:%M}  {state}"
        )
    return 0


def _apikey_revoke(
    conn: psycopg.Connection, pepper: str, args: argparse.Namespace
) -> int:
    from gateway.apikeys import revoke_key

    if not revoke_key(conn, args.id):
        print(f"no active key with id {args.id}", file=sys.stderr)
        return 1
    print(f"key {args.id} revoked")
    return 0


def _apikey_rotate(
    conn: psycopg.Connection, pepper: str, args: argparse.Namespace
) -> int:
    from gateway.apikeys import find_key, rotate_key

    old_id = find_key(conn, args.key, args.workspace)
    rotation = rotate_key(conn, old_id, pepper, timedelta(seconds=args.grace))
    if args.grace:
        ends = f"works until {rotation.old_revoked_at:%Y-%m-%d %H:%M:%S %Z}"
    else:
        ends = "is revoked"
    print(
        f"Key {old_id} {ends}; its replacement, key {rotation.key_id}, is shown once:"
    )
    print(rotation.key)
    return 0


_APIKEY_ACTIONS = {
    "create": _apikey_create,
    "list": _apikey_list,
    "revoke": _apikey_revoke,
    "rotate": _apikey_rotate,
}


def _not_negative(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw} is negative")
    return value


def _listed(raw: str) -> int:
    value = _not_negative(raw)
    if value > 10_000:
        raise argparse.ArgumentTypeError(f"{raw} is more than 10,000")
    return value


def _simulate(args: argparse.Namespace) -> int:
    from xobito.simulate import main as simulate

    return simulate(args)


def _reconcile(args: argparse.Namespace) -> int:
    # Imported here: OpenTelemetry's exporters double the start-up of
    # every other command.
    from services.metrics.reconciliation import reconcile
    from xobito import telemetry

    settings = devenv.settings()
    settings.require("database_url", "redis_url")
    # The drift found goes to OTLP too, when an endpoint is set.
    telemetry.configure("reconcile")
    # What was repaired is this command's output; the service's own log
    # lines about it would only repeat it.
    logs.configure("ERROR", settings.log_format)
    try:
        found = asyncio.run(
            reconcile(settings.database_url, settings.redis_url, args.campaign)
        )
    except NotFoundError as exc:
        print(f"xobito: {exc}", file=sys.stderr)
        return 1

    for campaign in found:
        if not campaign.fields:
            print(f"{campaign.campaign_id}: no drift")
            continue
        print(f"{campaign.campaign_id}: drift fixed (field: redis -> rows)")
        for drift in campaign.fields:
            print(f"  {drift.field}: {drift.stored} -> {drift.counted}")
    repaired = sum(1 for campaign in found if campaign.fields)
    print(f"{len(found)} campaign(s) checked, {repaired} repaired")
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    settings = devenv.settings()
    settings.require("database_url")
    if args.action == "replay":
        settings.require("whatsapp_app_secret")
        if bool(args.ids) == args.all:
            print("xobito: name the letters to replay, or --all", file=sys.stderr)
            return 2
    try:
        with psycopg.connect(settings.database_url, connect_timeout=10) as conn:
            return _DEAD_LETTER_ACTIONS[args.action](conn, args, settings)
    except psycopg.OperationalError as exc:
        print(f"xobito: the database cannot be reached: {exc}", file=sys.stderr)
        return 1


def _dead_letters_show(
    conn: psycopg.Connection, args: argparse.Namespace, settings: Settings
) -> int:
    from xobito import deadletters

    kept = deadletters.element(conn, args.id)
    if kept is None:
        print(f"xobito: no dead letter {args.id}", file=sys.stderr)
        return 1
    body = deadletters.body_of(kept)
    if body is not None:
        # A webhook's body, indented when it is JSON.
        try:
            kept = json.loads(body)
        except ValueError:
            print(body.encode("utf-8", "backslashreplace").decode())
            return 0
    try:
        print(json.dumps(kept, indent=2, ensure_ascii=False))
    except UnicodeEncodeError:
        # Text no encoding takes, such as a lone surrogate: escaped.
        print(json.dumps(kept, indent=2))
    return 0


def _dead_letters_replay(
    conn: psycopg.Connection, args: argparse.Namespace, settings: Settings
) -> int:
    import httpx

    from xobito import deadletters

    url = args.url or f"http://127.0.0.1:{settings.ingest_http_port}/webhooks/whatsapp"
    ids = deadletters.every_id(conn) if args.all else args.ids
    with httpx.Client(timeout=30) as client:
        replayed = deadletters.replay(
            conn, ids, url, settings.whatsapp_app_secret, client
        )
    for one in replayed:
        print(f"{one.id:>7}  {one.outcome}")
    gone = sum(one.gone for one in replayed)
    print(f"{gone} of {len(replayed)} replayed and gone")
    return 0 if gone == len(replayed) else 1


def _dead_letters_list(
    conn: psycopg.Connection, args: argparse.Namespace, settings: Settings
) -> int:
    from xobito import deadletters

    found = deadletters.groups(conn)
    if not found:
        print("no dead letters")
        return 0
    print(f"{'count':>7}  {'first':<16}  {'last':<16}  kind: reason")
    for group in found:
        first, last = f"{group.first:%Y-%m-%d %H:%M}", f"{group.last:%Y-%m-%d %H:%M}"
        print(f"{group.count:>7}  {first}  {last}  {group.kind}: {group.reason}")
    print(f"\nthe {args.limit} that came last:")
    for letter in deadletters.newest(conn, args.limit):
        print(
            f"{letter.id:>7}  {letter.received_at:%Y-%m-%d %H:%M:%S}"
            f"  {letter.kind}: {letter.reason}"
        )
    return 0


_DEAD_LETTER_ACTIONS = {
    "list": _dead_letters_list,
    "show": _dead_letters_show,
    "replay": _dead_letters_replay,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="xobito", description="WhatsApp campaign insights."
    )
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start every process of the system")
    run.set_defaults(handler=_run)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    apikey = commands.add_parser("apikey", help="manage API keys")
    actions = apikey.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key for a workspace")
    create.add_argument("--workspace", required=True)
    create.add_argument("--name", help="names the key, to rotate it by name")
    listing = actions.add_parser("list", help="list keys (never the keys)")
    listing.add_argument("--workspace")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)
    rotate = actions.add_parser(
        "rotate", help="replace a key with a new one; print the new key"
    )
    rotate.add_argument("key", help="the id or name of the key to replace")
    rotate.add_argument(
        "--workspace", help="the key's workspace, when several share its name"
    )
    rotate.add_argument(
        "--grace",
        type=_not_negative,
        default=0,
        metavar="SECONDS",
        help="how long the old key keeps working (default 0: revoked at once)",
    )
    apikey.set_defaults(handler=_apikey)

    simulate = commands.add_parser(
        "simulate", help="play a realistic campaign against the running stack"
    )
    simulate.add_argument("--recipients", type=_not_negative, default=1000)
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="seconds over which the webhooks are spread (0: as fast as possible)",
    )
    simulate.set_defaults(handler=_simulate)

    reconcile = commands.add_parser(
        "reconcile",
        help="rebuild counters from the recipient rows and report any drift",
    )
    reconcile.add_argument(
        "campaign", nargs="?", help="a campaign id (default: every campaign)"
    )
    reconcile.set_defaults(handler=_reconcile)

    dead = commands.add_parser(
        "dead-letters",
        help="what ingest kept of webhooks it could not record; replay them",
        description="A webhook is answered 200 even when an element of it"
        " cannot be read or handling it meets a fault, since Meta would"
        " redeliver it for days; ingest keeps the body as a dead letter"
        " instead. Replay the bodies once the fault is fixed.",
    )
    dead_actions = dead.add_subparsers(dest="action", required=True)
    listed = dead_actions.add_parser(
        "list",
        help="count them by kind and reason; list those that came last (no contents)",
    )
    listed.add_argument(
        "--limit",
        type=_listed,
        default=20,
        help="how many of the letters that came last to list (default 20,"
        " at most 10,000)",
    )
    show = dead_actions.add_parser(
        "show", help="print what one keeps (it may hold phone numbers and text)"
    )
    show.add_argument("id", type=int, help="a letter's id, as list shows it")
    replay = dead_actions.add_parser(
        "replay",
        help="post webhook bodies to ingest again; drop the letters it records",
    )
    replay.add_argument("ids", type=int, nargs="*", metavar="id")
    replay.add_argument("--all", action="store_true", help="every letter")
    replay.add_argument(
        "--url",
        help="ingest's webhook address"
        " (default: http://127.0.0.1:$INGEST_HTTP_PORT/webhooks/whatsapp)",
    )
    dead.set_defaults(handler=_dead_letters)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"xobito: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
