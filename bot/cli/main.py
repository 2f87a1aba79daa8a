"""The ``rapbattle`` command and its subcommands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from importlib.metadata import version

from bot.cli import local, tournament, track
from bot.cli.options import EXIT_FAILED, EXIT_OK, fail
from bot.errors import ConfigError, UserError
from bot.ops.logs import configure_logging
from bot.settings import Settings, load_settings, require_discord


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand sets ``run`` (and, where its options need a check, ``check``)."""
    parser = argparse.ArgumentParser(
        prog="rapbattle", description="Rap battles between large language models."
    )
    parser.add_argument("--version", action="version", version=f"rapbattle {version('rapbattle')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.add_parser(commands)
    tournament.add_parser(commands)
    track.add_parser(commands)
    commands.add_parser(
        "run",
        help="run the Discord bot",
        description="Run the Discord bot (needs DISCORD_TOKEN and a model API key).",
    ).set_defaults(run=lambda settings, arguments: run_discord_bot(settings))
    commands.add_parser(
        "migrate",
        help="bring the database up to date",
        description="Apply pending schema migrations to DATABASE_URL and print the schema version.",
    ).set_defaults(run=lambda settings, arguments: _run_migrate(settings.database_url))
    copy_db = commands.add_parser(
        "copy-db",
        help="copy every battle, vote and setting to another database",
        description="Copy a whole history (battle ids kept) from one database to another, "
        "typically sqlite:///data/rapbattle.db to postgresql://..., in one transaction, then "
        "check that row counts and leaderboards match. Both are migrated first; the destination "
        "must be empty. Exits non-zero if the copy differs.",
    )
    copy_db.add_argument("source", metavar="SRC_URL", help="the database to copy from")
    copy_db.add_argument("destination", metavar="DST_URL", help="the empty database to copy to")
    copy_db.set_defaults(
        run=lambda settings, arguments: _run_copy(arguments.source, arguments.destination)
    )
    web = commands.add_parser(
        "web",
        help="serve the web arena (leaderboards, battles, charts, open data)",
        description="Serve the read-only website from DATABASE_URL, beside any bot processes.",
    )
    web.add_argument("--host", default=None, help="address to listen on (default: WEB_HOST)")
    web.add_argument("--port", type=int, default=None, help="port (default: WEB_PORT or 8080)")
    web.set_defaults(
        run=lambda settings, arguments: _run_web(settings, arguments.host, arguments.port)
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if hasattr(arguments, "check"):
        arguments.check(parser, arguments)
    try:
        settings = load_settings()
    except UserError as error:
        return fail(error)
    configure_logging(settings.log_level, settings.log_format)
    return arguments.run(settings, arguments)


def _run_migrate(database_url: str) -> int:
    try:
        schema_version = asyncio.run(_migrate(database_url))
    except UserError as error:
        return fail(error)
    print(f"Schema version {schema_version}.")
    return EXIT_OK


async def _migrate(database_url: str) -> int:
    # Imported here, as the copy below, so that terminal battles never load the store.
    from bot.store import open_store

    with _database_errors(database_url):
        store = await open_store(database_url)  # opening migrates
    try:
        return await store.schema_version()
    finally:
        await store.close()


def _run_copy(source: str, destination: str) -> int:
    from bot.cli.copy_db import copy_database

    try:
        report = asyncio.run(copy_database(source, destination))
    except (OSError, sqlite3.Error) as error:
        return fail(f"Cannot open a database: {error}. Check both URLs.")
    except UserError as error:
        return fail(error)
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def _run_web(settings: Settings, host: str | None, port: int | None) -> int:
    from bot.web.server import serve

    try:
        asyncio.run(serve(settings, host, port))
    except UserError as error:
        return fail(error)
    except OSError as error:
        return fail(f"cannot serve the web arena: {error}")
    return EXIT_OK


def run_discord_bot(settings: Settings) -> int:
    # Imported here so that terminal battles never load discord.py.
    import aiohttp
    import discord

    from bot.client import RapBattleBot, point_discord_at

    try:
        require_discord(settings)
    except UserError as error:
        return fail(error)
    point_discord_at(settings)
    # The bot never joins voice, so discord.py's warnings about voice libraries are noise.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    bot = RapBattleBot(settings)
    try:
        bot.run(settings.discord_token or "", log_handler=None)
    except UserError as error:
        return fail(error)
    except discord.LoginFailure as error:
        return fail(f"Discord refused the token: {error}")
    except (aiohttp.ClientError, discord.GatewayNotFound, TimeoutError) as error:
        # Logging in is the first thing the bot does, so this is Discord unreachable at start.
        where = discord.http.Route.BASE
        return fail(f"Cannot reach Discord at {where}: {error or type(error).__name__}.")
    except (OSError, sqlite3.Error) as error:
        # Past the login, the store is opened next (in setup_hook).
        if not _is_sqlite(settings.database_url):
            raise
        return fail(_database_failure(settings.database_url, error))
    return EXIT_OK


@contextlib.contextmanager
def _database_errors(database_url: str) -> Iterator[None]:
    """A SQLite file that cannot be opened or created becomes one ConfigError line."""
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        if not _is_sqlite(database_url):
            raise
        raise ConfigError(_database_failure(database_url, error)) from None


def _is_sqlite(database_url: str) -> bool:
    # PostgreSQL's connection failures are ConfigErrors already; SQLite's path problems come
    # as OSError (creating the directory) or sqlite3.Error (opening the file).
    return database_url.startswith("sqlite:")


def _database_failure(database_url: str, error: Exception) -> str:
    return (
        f"Cannot open the database {database_url}: {error}. "
        "Check DATABASE_URL and that its directory is writable."
    )
