"""`rapbattle local`: one battle in this terminal, live and coloured on a TTY, and exactly the
transcript on standard output when it is piped; optionally judged by the judges' panel."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import openai
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from bot.audio.codec import track_format
from bot.audio.tracks import opened_track_maker
from bot.cli.audio import add_no_beat, write_with_progress
from bot.cli.options import (
    EXIT_OK,
    add_content_filter,
    add_judges,
    add_pace,
    add_rounds,
    fail,
    run_in_terminal,
    topic_value,
)
from bot.engine.battle import Battle, Side
from bot.engine.verdicts import Verdict, VerdictFile, parse_judge_list
from bot.errors import ConfigError, UserError
from bot.llm import LLMClient, ModelError, ModelInfo
from bot.models import ModelCatalog
from bot.moderation.filters import content_filter
from bot.services.battles.bout import Bout
from bot.services.battles.matchmaker import Matchmaker
from bot.services.battles.referee import BattleResult, Outcome
from bot.services.judging.factory import PanelFactory
from bot.services.judging.panel import JudgePanel
from bot.services.tracks.live import TrackingStage
from bot.services.tracks.maker import TrackBuilder
from bot.settings import Settings
from bot.stages.terminal import SIDE_STYLES, TerminalStage
from bot.store import Store, open_store


def add_parser(commands: Any) -> None:
    """Adds ``local`` to the ``rapbattle`` subcommands."""
    local = commands.add_parser(
        "local",
        help="run one battle in this terminal",
        description="Run one battle in this terminal. When standard output is not a terminal, "
        "it receives the battle's transcript, written as the battle goes.",
    )
    local.add_argument(
        "model_a",
        metavar="MODEL_A",
        nargs="?",
        help="model id or alias, e.g. qwen-max; left out, both models are matched",
    )
    local.add_argument(
        "model_b",
        metavar="MODEL_B",
        nargs="?",
        help="model id or alias, e.g. llama-3-70b; left out, MODEL_A's opponent is matched "
        "for the leaderboard of DATABASE_URL's history (when it has one), else drawn at random",
    )
    add_rounds(local)
    local.add_argument(
        "--topic", type=topic_value, default=None, help="what the battle is about (one line)"
    )
    add_pace(local, None, "BATTLE_PACE or auto")
    local.add_argument("--out", type=Path, default=None, help="also write the transcript here")
    add_judges(local, "judge the battle with a panel of models")
    local.add_argument(
        "--verdicts",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the judges' verdict here, as YAML in the tournament's verdict format",
    )
    local.add_argument(
        "--audio",
        type=Path,
        default=None,
        metavar="PATH",
        help="also make the battle's audio track (.ogg, .wav or .mp3), after the battle",
    )
    add_no_beat(local)
    add_content_filter(local)
    local.set_defaults(run=run, check=_check_options)


def _check_options(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> None:
    if arguments.verdicts is not None and arguments.judges is None:
        parser.error("--verdicts needs --judges")


def run(settings: Settings, arguments: argparse.Namespace) -> int:
    # In the terminal the battle itself is the output; only problems go to stderr.
    return run_in_terminal(
        local_battle(settings, arguments), "Stopped. The transcript so far is kept."
    )


async def local_battle(settings: Settings, arguments: argparse.Namespace) -> int:
    llm = LLMClient(settings)
    audio = contextlib.AsyncExitStack()
    screening = content_filter(settings)
    try:
        llm.require_key()
        models = await _model_list(llm, settings.llm_base_url)

        async def listed() -> list[ModelInfo]:
            return models

        catalog = ModelCatalog(listed, settings.model_aliases)
        model_a, model_b = await _models(settings, catalog, arguments.model_a, arguments.model_b)
        battle = Battle(
            model_a=model_a,
            model_b=model_b,
            rounds=arguments.rounds or settings.battle_rounds,
            topic=arguments.topic,
        )
        panel = await _judge_panel(llm, catalog, settings, arguments.judges)
        pace = settings.battle_pace if arguments.pace is None else arguments.pace
        track = await audio.enter_async_context(_track_builder(settings, battle, arguments))
        with contextlib.ExitStack() as files:
            stage = _terminal_stage(files, arguments.out)
            stage.begin(battle)
            # The judges (if any) start the moment the last verse is written; the track's
            # speech (if asked for) as each verse is shown.
            shown = stage if track is None else TrackingStage(stage, track)
            # Each verse screened before it is shown (the terminal's --content-filter).
            screen = screening.at(arguments.content_filter)
            bout = Bout(battle, llm, shown, pace, jury=panel, screen=screen)
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
        if track is not None and result.turns:
            # After the transcript is complete: a failed track never changes it.
            await write_with_progress(track.finish(), arguments.audio)
    except UserError as error:
        return fail(error)
    except OSError as error:
        return fail(f"cannot write the transcript: {error}")
    finally:
        await audio.aclose()
        await screening.close()
        await llm.close()
    if result.outcome is Outcome.COMPLETED:
        return EXIT_OK
    return fail(f"No contest: {result.reason}")


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


async def _models(
    settings: Settings, catalog: ModelCatalog, model_a: str | None, model_b: str | None
) -> tuple[str, str]:
    """The battle's models: as named, or matched (bot/services/battles/matchmaker.py) on the
    global board of DATABASE_URL's history when it has one, else drawn at random."""
    first = await catalog.resolve(model_a) if model_a is not None else None
    second = await catalog.resolve(model_b) if model_b is not None else None
    if first is not None and second is not None:
        return first, second
    url = settings.database_url
    async with _history(url if _may_have_history(url) else None) as store:
        return await Matchmaker(catalog, store).match(None, fixed=first)


def _may_have_history(database_url: str) -> bool:
    """False for a SQLite file that does not exist: no history, and none is created."""
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///")).is_file()
    return True


@contextlib.asynccontextmanager
async def _history(database_url: str | None) -> AsyncIterator[Store | None]:
    """The store DATABASE_URL names (None: none); a database that cannot be opened is no
    history either, said in one line on standard error."""
    if database_url is None:
        yield None
        return
    try:
        store = await open_store(database_url)
    except (UserError, OSError, sqlite3.Error) as error:
        print(
            f"rapbattle: cannot read the history in DATABASE_URL ({error}); "
            "picking the models at random.",
            file=sys.stderr,
        )
        yield None
        return
    try:
        yield store
    finally:
        await store.close()


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


async def _judge_panel(
    llm: LLMClient, catalog: ModelCatalog, settings: Settings, judges: str | None
) -> JudgePanel | None:
    """The panel ``--judges`` asks for, seated before the battle starts; None without it."""
    if judges is None:
        return None
    return await PanelFactory(llm, catalog.resolve, settings.judge_models).panel(
        parse_judge_list(judges)
    )


@contextlib.asynccontextmanager
async def _track_builder(
    settings: Settings, battle: Battle, arguments: argparse.Namespace
) -> AsyncIterator[TrackBuilder | None]:
    """The battle's track in the making when ``--audio`` asks for one, else None."""
    if arguments.audio is None:
        yield None
        return
    track_format(arguments.audio)  # before the battle, not after it
    async with opened_track_maker(settings, beat=arguments.beat) as maker:
        builder = maker.begin(battle.model_a, battle.model_b, battle.topic)
        try:
            yield builder
        finally:
            await builder.cancel()  # nothing left running if the battle ended early
