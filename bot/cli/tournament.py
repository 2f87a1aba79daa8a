"""`rapbattle tournament`: a whole tournament into a folder of files, resumable at any point.

The rules (pairing, decisions, tiers, the Swiss table, results.md) live in bot/engine/tournament.py.
This module plays the battles through a narrow seam, ``MatchPlayer``, and owns the files: every
file is written under a temporary name and renamed, and a battle whose transcript and verdict
both exist is never played again, so a run stopped at any moment goes on where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import openai
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from bot.engine.battle import DEFAULT_ROUNDS, Battle, Turn
from bot.engine.pacing import Pace
from bot.engine.prompts import Message
from bot.engine.tournament import (
    Decision,
    NoPairing,
    Pairing,
    PlayedRound,
    RoundPlan,
    TournamentFormat,
    decide,
    elimination_round,
    next_contestants,
    render_results,
    swiss_round,
)
from bot.engine.transcript import header, transcript_of
from bot.engine.verdicts import VerdictFile
from bot.errors import UserError
from bot.llm import LLMClient, ModelError
from bot.models import ModelCatalog
from bot.services.battles.bout import Bout
from bot.services.battles.referee import Outcome, VerseSource
from bot.services.judging.panel import JudgePanel
from bot.settings import Settings

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64
RESULTS_FILE = "results.md"
CONTESTANTS_FILE = "contestants.txt"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Nobody reads a tournament's verses as they arrive, so by default they are not paced.
NO_PACE = Pace(0)


# -- the seam between the tournament and a battle ------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One battle played and judged: its two files' text and what the bracket needs from it."""

    transcript: str
    verdict_yaml: str
    winner: str
    tie_note: str | None
    forfeit: str | None
    tokens: int

    @classmethod
    def of(cls, battle: Battle, transcript: str, verdict: VerdictFile, tokens: int) -> MatchRecord:
        """A record whose winner follows the tournament's rule, as a resumed run will read it."""
        decision = decide(
            Pairing(0, battle.model_a, battle.model_b), verdict.score, verdict.forfeit
        )
        note = decision.note if decision.is_tie else None
        return cls(transcript, verdict.to_yaml(), decision.winner, note, verdict.forfeit, tokens)


class MatchPlayer(Protocol):
    async def play(self, battle: Battle) -> MatchRecord:
        """Plays and judges ``battle`` from the start; a model with no verse forfeits."""
        ...


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a panel says of one battle: judges per model, each judge's statement, tokens."""

    score: Mapping[str, int]
    statements: Mapping[str, str]
    tokens: int = 0


JudgeStep = Callable[[Battle, Sequence[Turn]], Awaitable[Judgement]]


class RefereePlayer:
    """The real player: a battle through the referee, then the judges' step on its turns."""

    def __init__(self, models: VerseSource, judge: JudgeStep, pace: Pace = NO_PACE) -> None:
        self._models = models
        self._judge = judge
        self._pace = pace

    async def play(self, battle: Battle) -> MatchRecord:
        models = _FaultRecorder(self._models)
        # The judges start the moment the last verse is written, through the bout.
        bout = Bout(battle, models, _UnseenStage(), self._pace, jury=_StepJury(self._judge))
        bouted = await bout.run()
        result = bouted.verses
        transcript = transcript_of(battle, result.turns)
        if bouted.verdict is not None:
            judgement = await bouted.verdict
            verdict = VerdictFile(judgement.statements, judgement.score)
            return MatchRecord.of(battle, transcript, verdict, judgement.tokens)
        if result.outcome is Outcome.NO_CONTEST:
            if models.fault is None or not is_the_models_fault(models.fault):
                # Every battle would fail the same way: stop rather than forfeit the whole roster.
                raise UserError(
                    f"Stopped: {result.reason}. Finished battles are kept; "
                    "run the same command again to go on."
                )
            # The referee stops at the first verse that could not be written after the retries.
            verdict = VerdictFile({}, {}, forfeit=_next_speaker(battle, result.turns))
            return MatchRecord.of(battle, transcript, verdict, 0)
        raise RuntimeError(f"A tournament battle ended as {result.outcome.value}: {result.reason}")


# The key rejected, or the account out of credits: no battle can be played until that is fixed.
ACCOUNT_STATUSES = frozenset({401, 402})


def is_the_models_fault(error: UserError) -> bool:
    """Whether a failed verse is this model's own failure (a forfeit), not the provider's or the
    account's, which would fail every battle alike (the run stops instead)."""
    if not isinstance(error, ModelError) or error.status in ACCOUNT_STATUSES:
        return False
    cause: BaseException | None = error.__cause__
    while cause is not None:
        # Unreachable: the connection refused (aiohttp reports that as a timeout, too).
        if isinstance(cause, ConnectionError):
            return False
        if isinstance(cause, openai.APIConnectionError) and not isinstance(
            cause, openai.APITimeoutError
        ):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


class _FaultRecorder:
    """Passes verses through, keeping the error that ended the battle, if any."""

    def __init__(self, models: VerseSource) -> None:
        self._models = models
        self.fault: UserError | None = None

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        try:
            return await self._models.generate_verse(model, messages, on_progress)
        except UserError as error:
            self.fault = error
            raise


def _next_speaker(battle: Battle, turns: Sequence[Turn]) -> str:
    verse_slots = [slot for slot in battle.plan() if not slot.is_announcement]
    posted = sum(not turn.is_announcement for turn in turns)
    side = verse_slots[posted].side
    assert side is not None
    return battle.model(side)


class _StepJury:
    """A judge step as the bout's jury."""

    def __init__(self, step: JudgeStep) -> None:
        self._step = step

    async def judge(self, battle: Battle, turns: Sequence[Turn]) -> Judgement:
        return await self._step(battle, turns)


class _UnseenStage:
    """Nobody watches a tournament's battles live: the transcript is the record."""

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        return None

    async def announce(self, battle: Battle, turn: Turn) -> None:
        return None

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        yield


def panel_judge(llm: LLMClient, settings: Settings, judge_ids: Sequence[str] | None) -> JudgeStep:
    """The judges' panel as a judge step; ``None`` means JUDGE_MODELS' panel."""
    panel = JudgePanel(llm, judge_ids or settings.judge_models)

    async def judge(battle: Battle, turns: Sequence[Turn]) -> Judgement:
        verdict = await panel.judge(battle, turns)
        data = VerdictFile.of(verdict)
        tokens = verdict.prompt_tokens + verdict.completion_tokens
        return Judgement(data.score, data.closing_statements, tokens)

    return judge


# -- progress ------------------------------------------------------------------------------------


class Progress(Protocol):
    def round_started(self, number: int, plan: RoundPlan, total_rounds: int) -> None: ...

    def battle_started(self, pairing: Pairing) -> None: ...

    def battle_finished(self, pairing: Pairing, record: MatchRecord | None) -> None:
        """``record`` is None for a battle read back from an earlier run's files."""
        ...

    def finished(self, summary: str) -> None: ...


class SilentProgress:
    def round_started(self, number: int, plan: RoundPlan, total_rounds: int) -> None:
        return None

    def battle_started(self, pairing: Pairing) -> None:
        return None

    def battle_finished(self, pairing: Pairing, record: MatchRecord | None) -> None:
        return None

    def finished(self, summary: str) -> None:
        return None


class PlainProgress(SilentProgress):
    """Piped: one line per round and one at the end, on stderr."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def round_started(self, number: int, plan: RoundPlan, total_rounds: int) -> None:
        battles = len(plan.pairings)
        noun = "battle" if battles == 1 else "battles"
        print(f"round {number}: {battles} {noun}", file=self._stream, flush=True)

    def finished(self, summary: str) -> None:
        print(summary, file=self._stream, flush=True)


class LiveProgress(SilentProgress):
    """On a terminal: the round, battles done, the pairings under way, time and tokens."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self._console = console
        self._clock = clock
        self._started = clock()
        self._round = (0, 0)
        self._done = 0
        self._battles = 0
        self._tokens = 0
        self._under_way: dict[int, Pairing] = {}
        self._live = Live(console=console, get_renderable=self._view, refresh_per_second=2)

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def round_started(self, number: int, plan: RoundPlan, total_rounds: int) -> None:
        self._round = (number, total_rounds)
        self._done, self._battles = 0, len(plan.pairings)
        self._under_way.clear()

    def battle_started(self, pairing: Pairing) -> None:
        self._under_way[pairing.index] = pairing

    def battle_finished(self, pairing: Pairing, record: MatchRecord | None) -> None:
        self._under_way.pop(pairing.index, None)
        self._done += 1
        self._tokens += record.tokens if record else 0

    def finished(self, summary: str) -> None:
        self._live.stop()
        self._console.print(summary)

    def _view(self) -> Group:
        elapsed = int(self._clock() - self._started)
        number, total = self._round
        status = Text.assemble(
            (f"Round {number} ({number + 1} of {total})", "bold"),
            f" · battles {self._done}/{self._battles}",
            f" · {elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}",
            f" · {self._tokens:,} tokens",
        )
        lines = [
            Text(f"  {p.index}: {p.side_a} v {p.side_b}", style="dim")
            for p in sorted(self._under_way.values(), key=lambda p: p.index)
        ]
        return Group(status, *lines)


# -- the tournament ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TournamentOptions:
    out: Path
    battle_rounds: int = DEFAULT_ROUNDS
    concurrency: int = DEFAULT_CONCURRENCY
    tournament_format: TournamentFormat = TournamentFormat.SINGLE
    swiss_rounds: int | None = None  # default: enough rounds to leave one unbeaten model


def default_swiss_rounds(models: int) -> int:
    return max(1, math.ceil(math.log2(models)))


class Tournament:
    """Runs a tournament into ``options.out``; ``run()`` may be called again after any stop."""

    def __init__(
        self,
        roster: Sequence[str],
        player: MatchPlayer,
        options: TournamentOptions,
        progress: Progress | None = None,
    ) -> None:
        check_roster(roster, options)
        self.roster = tuple(roster)
        self.player = player
        self.options = options
        self.progress = progress or SilentProgress()

    async def run(self) -> tuple[PlayedRound, ...]:
        check_out_dir(self.options.out, self.roster)
        if self.options.tournament_format is TournamentFormat.SWISS:
            rounds = await self._swiss()
            summary = f"{len(rounds)} Swiss rounds played; results in {self._results_path}"
        else:
            rounds = await self._single_elimination()
            champion = rounds[-1].decisions[0].winner
            summary = f"Champion: {champion}; results in {self._results_path}"
        self.progress.finished(summary)
        return rounds

    @property
    def _results_path(self) -> Path:
        return self.options.out / RESULTS_FILE

    async def _single_elimination(self) -> tuple[PlayedRound, ...]:
        played: list[PlayedRound] = []
        contestants = self.roster
        total_rounds = (len(contestants) - 1).bit_length()
        while len(contestants) > 1:
            plan = elimination_round(contestants)
            played.append(await self._round(len(played), plan, total_rounds, played))
            contestants = next_contestants(plan, [d.winner for d in played[-1].decisions])
        self._settle_contestants(len(played), contestants)
        return tuple(played)

    async def _swiss(self) -> tuple[PlayedRound, ...]:
        played: list[PlayedRound] = []
        total_rounds = self.options.swiss_rounds or default_swiss_rounds(len(self.roster))
        for number in range(total_rounds):
            decisions = [d for r in played for d in r.decisions]
            byes = [r.plan.bye for r in played if r.plan.bye is not None]
            try:
                plan = swiss_round(self.roster, decisions, byes)
            except NoPairing:
                raise UserError(
                    f"Swiss round {number} cannot be paired without a rematch; "
                    f"ask for fewer than {total_rounds} rounds."
                ) from None
            played.append(await self._round(number, plan, total_rounds, played))
        return tuple(played)

    async def _round(
        self, number: int, plan: RoundPlan, total_rounds: int, earlier: Sequence[PlayedRound]
    ) -> PlayedRound:
        self._settle_contestants(number, plan.contestants)
        folder = self.options.out / f"round{number}"
        self.progress.round_started(number, plan, total_rounds)
        decisions: dict[int, Decision] = {}
        to_play: list[Pairing] = []
        for pairing in plan.pairings:
            resumed = self._read_back(folder, pairing)
            if resumed is None:
                to_play.append(pairing)
            else:
                decisions[pairing.index] = resumed
                self.progress.battle_finished(pairing, None)
        slots = asyncio.Semaphore(self.options.concurrency)

        async def play(pairing: Pairing) -> None:
            async with slots:
                decisions[pairing.index] = await self._play(folder, pairing)

        try:
            async with asyncio.TaskGroup() as group:
                for pairing in to_play:
                    group.create_task(play(pairing), name=f"round {number} battle {pairing.index}")
        except BaseExceptionGroup as failed:
            # One battle's failure cancels the round; the user sees that one error, not a group.
            user_errors = [e for e in failed.exceptions if isinstance(e, UserError)]
            raise (user_errors or failed.exceptions)[0] from None
        played = PlayedRound(plan, tuple(decisions[p.index] for p in plan.pairings))
        results = render_results(self.options.tournament_format, self.roster, [*earlier, played])
        write_atomically(self._results_path, results)
        return played

    async def _play(self, folder: Path, pairing: Pairing) -> Decision:
        self.progress.battle_started(pairing)
        battle = Battle(pairing.side_a, pairing.side_b, rounds=self.options.battle_rounds)
        record = await self.player.play(battle)
        decision = _decision(pairing, record.verdict_yaml, folder / f"{pairing.index}.yml")
        if (decision.winner, decision.forfeit) != (record.winner, record.forfeit):
            raise RuntimeError(
                f"The player's winner {record.winner} of {battle.model_a} v {battle.model_b} "
                f"is not the verdict's ({decision.winner})."
            )
        # The transcript first: a battle counts as finished only once its verdict exists too,
        # so a verdict left from an earlier attempt goes before the new transcript arrives.
        verdict_path = folder / f"{pairing.index}.yml"
        verdict_path.unlink(missing_ok=True)
        write_atomically(folder / f"{pairing.index}.txt", record.transcript)
        write_atomically(verdict_path, record.verdict_yaml)
        self.progress.battle_finished(pairing, record)
        return decision

    def _read_back(self, folder: Path, pairing: Pairing) -> Decision | None:
        """A finished battle's decision from its files, or None to play it (again)."""
        transcript_path = folder / f"{pairing.index}.txt"
        verdict_path = folder / f"{pairing.index}.yml"
        if not (transcript_path.is_file() and verdict_path.is_file()):
            return None
        with transcript_path.open(encoding="utf-8", newline="") as file:
            first_line = file.readline()
        if first_line != header(pairing.side_a, pairing.side_b):
            raise UserError(
                f"{transcript_path} is a battle of another tournament "
                f"(expected {pairing.side_a} v {pairing.side_b}); use another --out."
            )
        return _decision(pairing, verdict_path.read_text(encoding="utf-8"), verdict_path)

    def _settle_contestants(self, number: int, contestants: Sequence[str]) -> None:
        path = self.options.out / f"round{number}" / CONTESTANTS_FILE
        text = contestants_text(contestants)
        if path.is_file():
            if path.read_text(encoding="utf-8") != text:
                raise UserError(
                    f"{path} lists other contestants than this run reaches: "
                    f"{self.options.out} holds a different tournament; use another --out."
                )
            return
        write_atomically(path, text)


def _decision(pairing: Pairing, verdict_text: str, where: Path) -> Decision:
    try:
        verdict = VerdictFile.from_yaml(verdict_text)
        return decide(pairing, verdict.score, verdict.forfeit)
    except ValueError as error:
        battle = f"{pairing.side_a} v {pairing.side_b}"
        raise UserError(f"{where} is not a verdict of {battle}: {error}") from None


def contestants_text(contestants: Sequence[str]) -> str:
    return "".join(f"{model}\n" for model in contestants)


def check_roster(roster: Sequence[str], options: TournamentOptions) -> None:
    if len(roster) < 2:
        raise UserError("A tournament needs at least two models.")
    seen: set[str] = set()
    for model in roster:
        if model in seen:
            raise UserError(f"`{model}` is in the roster twice.")
        seen.add(model)
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise UserError(f"Concurrency must be between 1 and {MAX_CONCURRENCY}.")
    if options.swiss_rounds is not None and not 1 <= options.swiss_rounds <= len(roster) - 1:
        raise UserError(
            f"Swiss rounds must be between 1 and {len(roster) - 1} for {len(roster)} models."
        )


def check_out_dir(out: Path, roster: Sequence[str]) -> None:
    """Refuses a DIR that holds a tournament of another roster (its round 0 differs)."""
    existing = out / "round0" / CONTESTANTS_FILE
    if existing.is_file() and existing.read_text(encoding="utf-8") != contestants_text(roster):
        raise UserError(
            f"{out} holds a tournament of a different roster ({existing} differs). "
            "Use another --out, or the same roster to go on with it."
        )


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` (UTF-8, \\n line ends) to a temporary name, then renames it over ``path``.

    A stop at any moment leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_roster(path: Path) -> list[str]:
    """One model per line; blank lines are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"Cannot read the roster {path}: {error.strerror or error}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


# -- the command -----------------------------------------------------------------------------------


def add_parser(
    commands: Any,
    *,
    rounds_type: Callable[[str], int],
    pace_type: Callable[[str], Pace],
) -> None:
    """Adds ``tournament`` to the ``rapbattle`` subcommands (types shared with ``local``)."""
    parser = commands.add_parser(
        "tournament",
        help="run a whole tournament into a folder, resumably",
        description="Run a single-elimination (or Swiss) tournament judged by the judges' panel. "
        "The roster order is the seeding, strongest first. Files go to DIR/round{r}/ and "
        "DIR/results.md; running again with the same --out goes on where it stopped.",
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="model ids or aliases")
    parser.add_argument("--roster", type=Path, help="a file with one model id per line")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where files go")
    parser.add_argument(
        "--judges",
        nargs="?",
        const="",
        default=None,
        metavar="IDS",
        help="comma-separated judge models (default: the default panel)",
    )
    parser.add_argument(
        "--rounds", type=rounds_type, default=None, help="rounds of each battle (default 3)"
    )
    parser.add_argument(
        "--pace", type=pace_type, default=NO_PACE, help="pause after each verse (default: 0)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"battles of a round played at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--format",
        dest="tournament_format",
        type=TournamentFormat,
        choices=list(TournamentFormat),
        default=TournamentFormat.SINGLE,
        metavar="{single,swiss}",
        help="single elimination (default) or Swiss",
    )
    parser.add_argument(
        "--swiss-rounds",
        type=int,
        default=None,
        metavar="K",
        help="rounds of a Swiss tournament (default: log2 of the models, rounded up)",
    )


def main(settings: Settings, arguments: argparse.Namespace) -> int:
    """Runs ``rapbattle tournament``; the exit status."""
    if bool(arguments.models) == (arguments.roster is not None):
        print("rapbattle tournament: give the models, or --roster FILE (not both)", file=sys.stderr)
        return EXIT_USAGE
    # The progress display (or a few lines when piped) is the output; only problems are logged.
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return asyncio.run(_command(settings, arguments))
    except KeyboardInterrupt:
        print("Stopped. Finished battles are kept; run the same command to go on.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as error:
        print(f"rapbattle: {error}", file=sys.stderr)
        return EXIT_FAILED


async def _command(settings: Settings, arguments: argparse.Namespace) -> int:
    llm = LLMClient(settings)
    try:
        llm.require_key()
        catalog = ModelCatalog(llm.list_models, settings.model_aliases)
        names = read_roster(arguments.roster) if arguments.roster else arguments.models
        roster = [await catalog.resolve(name) for name in names]
        options = TournamentOptions(
            out=arguments.out,
            battle_rounds=arguments.rounds or settings.battle_rounds,
            concurrency=arguments.concurrency,
            tournament_format=arguments.tournament_format,
            swiss_rounds=arguments.swiss_rounds,
        )
        check_roster(roster, options)
        check_out_dir(options.out, roster)  # before judges or battles cost anything
        judge_ids = None
        if arguments.judges:
            names = [name for name in arguments.judges.split(",") if name.strip()]
            judge_ids = [await catalog.resolve(name) for name in names] or None
        player = RefereePlayer(llm, panel_judge(llm, settings, judge_ids), arguments.pace)
        if sys.stdout.isatty():
            with LiveProgress(Console(highlight=False)) as progress:
                await Tournament(roster, player, options, progress).run()
        else:
            await Tournament(roster, player, options, PlainProgress(sys.stderr)).run()
    finally:
        await llm.close()
    return EXIT_OK
