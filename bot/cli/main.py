"""The ``rapbattle`` command and its subcommands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TextIO

import openai
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from bot.cli import tournament
from bot.engine.battle import (
    DEFAULT_ROUNDS,
    MAX_ROUNDS,
    MIN_ROUNDS,
    Battle,
    Side,
    normalize_topic,
)
from bot.engine.pacing import Pace
from bot.engine.verdicts import Verdict, VerdictFile, parse_judge_list
from bot.errors import ConfigError, UserError
from bot.llm import LLMClient, ModelError, ModelInfo
from bot.models import ModelCatalog
from bot.services.battles.bout import Bout
from bot.services.battles.referee import BattleResult, Outcome
from bot.services.judging.panel import JudgePanel
from bot.settings import Settings, load_settings, require_discord
from bot.stages.terminal import SIDE_STYLES, TerminalStage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rapbattle", description="Rap battles between large language models."
    )
    parser.add_argument("--version", action="version", version=f"rapbattle {version('rapbattle')}")
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
    local.add_argument(
        "--topic", type=_topic, default=None, help="what the battle is about (one line)"
    )
    local.add_argument(
        "--pace",
        type=_pace,
        default=None,
        help="pause after each verse: seconds, 0 for none, or 'auto' (default: BATTLE_PACE or "
        "auto)",
    )
    local.add_argument("--out", type=Path, default=None, help="also write the transcript here")
    _add_judge_options(local)
    tournament.add_parser(commands, rounds_type=_rounds, pace_type=_pace)
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


def _topic(text: str) -> str | None:
    try:
        return normalize_topic(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    _check_judge_options(parser, arguments)
    try:
        settings = load_settings()
    except UserError as error:
        return _fail(error)
    configure_logging(settings.log_level)
    if arguments.command == "local":
        # In the terminal the battle itself is the output; only problems go to stderr.
        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
        return _run_local(settings, arguments)
    if arguments.command == "tournament":
        return tournament.main(settings, arguments)
    if arguments.command == "migrate":
        return _run_migrate(settings.database_url)
    if arguments.command == "copy-db":
        return _run_copy(arguments.source, arguments.destination)
    if arguments.command == "web":
        return _run_web(settings, arguments.host, arguments.port)
    return run_discord_bot(settings)


def _run_migrate(database_url: str) -> int:
    try:
        schema_version = asyncio.run(_migrate(database_url))
    except UserError as error:
        return _fail(error)
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
    from bot.store.copy import copy_database

    try:
        report = asyncio.run(copy_database(source, destination))
    except (OSError, sqlite3.Error) as error:
        return _fail(f"Cannot open a database: {error}. Check both URLs.")
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
    import aiohttp
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
    except (aiohttp.ClientError, discord.GatewayNotFound, TimeoutError) as error:
        # Logging in is the first thing the bot does, so this is Discord unreachable at start.
        where = discord.http.Route.BASE
        return _fail(f"Cannot reach Discord at {where}: {error or type(error).__name__}.")
    except (OSError, sqlite3.Error) as error:
        # Past the login, the store is opened next (in setup_hook).
        if not _is_sqlite(settings.database_url):
            raise
        return _fail(_database_failure(settings.database_url, error))
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
        models = await _model_list(llm, settings.llm_base_url)

        async def listed() -> list[ModelInfo]:
            return models

        catalog = ModelCatalog(listed, settings.model_aliases)
        battle = Battle(
            model_a=await catalog.resolve(arguments.model_a),
            model_b=await catalog.resolve(arguments.model_b),
            rounds=arguments.rounds or settings.battle_rounds,
            topic=arguments.topic,
        )
        panel = await _judge_panel(llm, catalog, settings, arguments)
        pace = settings.battle_pace if arguments.pace is None else arguments.pace
        with contextlib.ExitStack() as files:
            stage = _terminal_stage(files, arguments.out)
            stage.begin(battle)
            # The judges (if any) start the moment the last verse is written.
            bout = Bout(battle, llm, stage, pace, jury=panel)
            try:
                bouted = await bout.run()
            except asyncio.CancelledError:
                # Ctrl-C: the console says how far the battle got, then the interrupt goes on.
                stage.end(BattleResult(battle, bout.referee.posted, Outcome.STOPPED, "Ctrl-C"))
                raise
            result = bouted.verses
            stage.end(result)
        if bouted.verdict is not None:
            _report_verdict(await _await_verdict(bouted.verdict), arguments.verdicts)
    except UserError as error:
        return _fail(error)
    except OSError as error:
        return _fail(f"cannot write the transcript: {error}")
    finally:
        await llm.close()
    if result.outcome is Outcome.COMPLETED:
        return EXIT_OK
    return _fail(f"No contest: {result.reason}")


async def _model_list(llm: LLMClient, base_url: str) -> list[ModelInfo]:
    """The provider's models, fetched once up front, so that a provider that cannot be reached
    at all is one line naming where it was looked for. When only the list fails, full ids and
    aliases still battle (the catalog then has no list to check them against)."""
    try:
        return await llm.list_models()
    except ModelError as error:
        if isinstance(error.__cause__, openai.APIConnectionError):
            raise ConfigError(
                f"Cannot reach the model provider at {base_url}. "
                "Check LLM_BASE_URL and your network."
            ) from None
        return []


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


# -- the judges in the terminal ------------------------------------------------------------------


def _add_judge_options(local: argparse.ArgumentParser) -> None:
    local.add_argument(
        "--judges",
        nargs="?",
        const="",
        default=None,
        metavar="IDS",
        help="judge the battle with a panel of models: comma-separated ids or aliases "
        "(with no ids: JUDGE_MODELS, or the default panel of five)",
    )
    local.add_argument(
        "--verdicts",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the judges' verdict here, as YAML in the tournament's verdict format",
    )


def _check_judge_options(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    if getattr(arguments, "verdicts", None) is not None and arguments.judges is None:
        parser.error("--verdicts needs --judges")


async def _judge_panel(
    llm: LLMClient, catalog: ModelCatalog, settings: Settings, arguments: argparse.Namespace
) -> JudgePanel | None:
    """The panel ``--judges`` asks for, resolved through the catalog before the battle starts."""
    if arguments.judges is None:
        return None
    names = parse_judge_list(arguments.judges) or settings.judge_models
    judges: list[str] = []
    for name in names:
        try:
            judge = await catalog.resolve(name)
        except UserError as error:
            raise UserError(f"judge: {error}") from None
        if judge not in judges:
            judges.append(judge)
    return JudgePanel(llm, judges)


async def _await_verdict(judging: asyncio.Task[Verdict]) -> Verdict:
    if not sys.stdout.isatty():
        return await judging
    with Console(highlight=False).status("The judges are deliberating…"):
        return await judging


def _report_verdict(verdict: Verdict, verdicts_file: Path | None) -> None:
    """The verdict after the battle: in full on a terminal, else one line on stderr."""
    if verdicts_file is not None:
        _write_verdicts(verdicts_file, VerdictFile.of(verdict))
    if not sys.stdout.isatty():
        # Standard output stays exactly the transcript.
        print(f"Judges: {verdict.summary()}", file=sys.stderr)
        return
    console = Console(highlight=False)
    console.print()
    console.print(Rule(Text("Judges' verdict", style="bold")))
    score = Text.assemble(
        (verdict.model_a, SIDE_STYLES[Side.A]),
        f" {verdict.votes(Side.A)} - {verdict.votes(Side.B)} ",
        (verdict.model_b, SIDE_STYLES[Side.B]),
    )
    console.print(score, justify="center")
    console.print(Text(verdict.summary(), style="bold"), justify="center")
    for ballot in verdict.ballots:
        line = Text.assemble((ballot.judge, "bold"), ": ")
        if ballot.pick is None:
            line.append("abstained", style="dim")
        else:
            line.append(verdict.model(ballot.pick), style=SIDE_STYLES[ballot.pick])
        if ballot.same_vendor:
            line.append(" (same vendor as a contestant)", style="italic")
        console.print()
        console.print(line)
        console.print(Text(ballot.statement if ballot.pick is not None else ballot.abstained or ""))


def _write_verdicts(path: Path, data: VerdictFile) -> None:
    """Written under a temporary name, then renamed, so the file is never half a verdict."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(data.to_yaml(), encoding="utf-8", newline="\n")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserError(f"cannot write the verdicts: {error}") from None


def _fail(error: UserError | str) -> int:
    print(f"rapbattle: {error}", file=sys.stderr)
    return EXIT_FAILED
