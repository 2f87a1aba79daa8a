"""The ``rapbattle`` command and its subcommands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console

from bot.engine.battle import DEFAULT_ROUNDS, MAX_ROUNDS, MIN_ROUNDS, Battle, normalize_topic
from bot.engine.pacing import Pace
from bot.errors import UserError
from bot.llm import LLMClient
from bot.models import ModelCatalog
from bot.referee import Outcome, Referee
from bot.settings import Settings, load_settings, require_discord
from bot.stages.terminal import TerminalStage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rapbattle", description="Rap battles between large language models."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local = commands.add_parser(
        "local",
        help="run one battle in this terminal",
        description="Run one battle in this terminal. When standard output is not a terminal, "
        "it receives the battle's transcript, written as the battle goes.",
    )
    local.add_argument("model_a", metavar="MODEL_A", help="model id or alias, e.g. qwen-max")
    local.add_argument("model_b", metavar="MODEL_B", help="model id or alias, e.g. llama-3-70b")
    local.add_argument(
        "--rounds",
        type=_rounds,
        default=None,
        help=f"rounds, {MIN_ROUNDS} to {MAX_ROUNDS} (default: BATTLE_ROUNDS or {DEFAULT_ROUNDS})",
    )
    local.add_argument("--topic", default=None, help="what the battle is about (one line)")
    local.add_argument(
        "--pace",
        type=_pace,
        default=Pace(None),
        help="pause after each verse: seconds, 0 for none, or 'auto' (default: auto)",
    )
    local.add_argument("--out", type=Path, default=None, help="also write the transcript here")
    commands.add_parser(
        "run",
        help="run the Discord bot",
        description="Run the Discord bot (needs DISCORD_TOKEN and a model API key).",
    )
    commands.add_parser(
        "migrate",
        help="bring the database up to date",
        description="Apply pending schema migrations to DATABASE_URL and print the schema version.",
    )
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
    web = commands.add_parser(
        "web",
        help="serve the web arena (leaderboards, battles, charts, open data)",
        description="Serve the read-only website from DATABASE_URL, beside any bot processes.",
    )
    web.add_argument("--host", default=None, help="address to listen on (default: WEB_HOST)")
    web.add_argument("--port", type=int, default=None, help="port (default: WEB_PORT or 8080)")
    return parser


def _rounds(text: str) -> int:
    try:
        rounds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise argparse.ArgumentTypeError(f"rounds must be between {MIN_ROUNDS} and {MAX_ROUNDS}")
    return rounds


def _pace(text: str) -> Pace:
    try:
        return Pace.parse(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except UserError as error:
        return _fail(error)
    configure_logging(settings.log_level)
    if arguments.command == "local":
        # In the terminal the battle itself is the output; only problems go to stderr.
        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
        return _run_local(settings, arguments)
    if arguments.command == "migrate":
        return _run_migrate(settings.database_url)
    if arguments.command == "copy-db":
        return _run_copy(arguments.source, arguments.destination)
    if arguments.command == "web":
        return _run_web(settings, arguments.host, arguments.port)
    return run_discord_bot(settings)


def _run_migrate(database_url: str) -> int:
    try:
        version = asyncio.run(_migrate(database_url))
    except UserError as error:
        return _fail(error)
    print(f"Schema version {version}.")
    return EXIT_OK


async def _migrate(database_url: str) -> int:
    # Imported here, as the copy below, so that terminal battles never load the store.
    from bot.store import open_store

    store = await open_store(database_url)  # opening migrates
    try:
        return await store.schema_version()
    finally:
        await store.close()


def _run_copy(source: str, destination: str) -> int:
    from bot.store.copy import copy_database

    try:
        report = asyncio.run(copy_database(source, destination))
    except UserError as error:
        return _fail(error)
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def _run_web(settings: Settings, host: str | None, port: int | None) -> int:
    from bot.web.server import serve

    try:
        asyncio.run(serve(settings, host, port))
    except UserError as error:
        return _fail(error)
    except OSError as error:
        return _fail(f"cannot serve the web arena: {error}")
    return EXIT_OK


def run_discord_bot(settings: Settings) -> int:
    # Imported here so that terminal battles never load discord.py.
    import discord

    from bot.client import RapBattleBot, point_discord_at

    try:
        require_discord(settings)
    except UserError as error:
        return _fail(error)
    point_discord_at(settings)
    # The bot never joins voice, so discord.py's warnings about voice libraries are noise.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    bot = RapBattleBot(settings)
    try:
        bot.run(settings.discord_token or "", log_handler=None)
    except UserError as error:
        return _fail(error)
    except discord.LoginFailure as error:
        return _fail(f"Discord refused the token: {error}")
    return EXIT_OK


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # The HTTP client logs every request at INFO, which drowns out the bot's own lines.
    for noisy in ("httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run_local(settings: Settings, arguments: argparse.Namespace) -> int:
    try:
        return asyncio.run(local_battle(settings, arguments))
    except KeyboardInterrupt:
        print("Stopped. The transcript so far is kept.", file=sys.stderr)
        return EXIT_INTERRUPTED


async def local_battle(settings: Settings, arguments: argparse.Namespace) -> int:
    llm = LLMClient(settings)
    try:
        llm.require_key()
        catalog = ModelCatalog(llm.list_models, settings.model_aliases)
        topic = normalize_topic(arguments.topic)
        battle = Battle(
            model_a=await catalog.resolve(arguments.model_a),
            model_b=await catalog.resolve(arguments.model_b),
            rounds=arguments.rounds or settings.battle_rounds,
            topic=topic,
        )
        with contextlib.ExitStack() as files:
            stage = _terminal_stage(files, arguments.out)
            stage.begin(battle)
            result = await Referee(battle, llm, stage, arguments.pace).run()
    except UserError as error:
        return _fail(error)
    except OSError as error:
        return _fail(f"cannot write the transcript: {error}")
    finally:
        await llm.close()
    if result.outcome is Outcome.COMPLETED:
        return EXIT_OK
    return _fail(f"No contest: {result.reason}")


def _terminal_stage(files: contextlib.ExitStack, out: Path | None) -> TerminalStage:
    transcripts: list[TextIO] = []
    console = None
    if sys.stdout.isatty():
        console = Console(highlight=False)
    else:
        # The transcript format is UTF-8 with \n line ends, whatever the locale says.
        sys.stdout.reconfigure(encoding="utf-8", newline="\n")  # type: ignore[union-attr]
        transcripts.append(sys.stdout)
    if out is not None:
        transcripts.append(files.enter_context(out.open("w", encoding="utf-8", newline="\n")))
    return TerminalStage(console, transcripts)


def _fail(error: UserError | str) -> int:
    print(f"rapbattle: {error}", file=sys.stderr)
    return EXIT_FAILED
