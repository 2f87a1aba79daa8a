"""`rapbattle tournament`: a whole tournament into a folder of files, resumable at any point.

The progression is the one every front end shares (bot/services/tournaments/runner.py); here the
terminal's match player (a battle, then the judges' panel) keeps each battle in the folder
(bot/services/tournaments/folder.py), and the progress shows live on a terminal or as a few lines
when piped.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from bot.cli.album import make_album
from bot.cli.audio import add_no_beat
from bot.cli.options import (
    EXIT_OK,
    EXIT_USAGE,
    add_content_filter,
    add_judges,
    add_pace,
    add_rounds,
    run_in_terminal,
)
from bot.engine.battle import DEFAULT_ROUNDS
from bot.engine.progression import Progression, check_roster, check_swiss_rounds
from bot.engine.tournament import Pairing, RoundPlan, TournamentFormat
from bot.engine.verdicts import parse_judge_list
from bot.errors import UserError
from bot.llm import LLMClient
from bot.models import ModelCatalog
from bot.moderation.filters import content_filter
from bot.services.judging.factory import PanelFactory
from bot.services.tournaments.folder import (
    FolderTournament,
    Progress,
    SilentProgress,
    check_out_dir,
)
from bot.services.tournaments.panel_player import (
    NO_PACE,
    BattlePlayer,
    MatchRecord,
    RefereePlayer,
    panel_judge,
)
from bot.services.tournaments.runner import TournamentResult, TournamentRunner
from bot.settings import Settings

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64


# -- progress ------------------------------------------------------------------------------------


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


class Tournament:
    """A terminal tournament into ``options.out``; ``run()`` may be called again after any stop."""

    def __init__(
        self,
        roster: Sequence[str],
        player: BattlePlayer,
        options: TournamentOptions,
        progress: Progress | None = None,
    ) -> None:
        check_options(roster, options)
        self.roster = tuple(roster)
        self.player = player
        self.options = options
        self.progress = progress or SilentProgress()

    async def run(self) -> TournamentResult:
        check_out_dir(self.options.out, self.roster)
        folder = FolderTournament(
            self.options.out, self.player, self.options.battle_rounds, self.progress
        )
        progression = Progression.start(
            self.options.tournament_format, self.roster, self.options.swiss_rounds
        )
        runner = TournamentRunner(progression, folder, folder, concurrency=self.options.concurrency)
        return await runner.run()


def check_options(roster: Sequence[str], options: TournamentOptions) -> None:
    check_roster(roster)
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise UserError(f"Concurrency must be between 1 and {MAX_CONCURRENCY}.")
    if options.swiss_rounds is not None:
        check_swiss_rounds(options.swiss_rounds, len(roster))


def read_roster(path: Path) -> list[str]:
    """One model per line; blank lines are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"Cannot read the roster {path}: {error.strerror or error}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


# -- the command -----------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """Adds ``tournament`` to the ``rapbattle`` subcommands."""
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
    add_judges(parser, "the judges' panel that decides every battle")
    add_rounds(parser, "rounds of each battle")
    add_pace(parser, NO_PACE, "0")
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
    parser.add_argument(
        "--audio",
        action="store_true",
        help="also make every battle's audio track (round{r}/{k}.ogg) and album.m3u8",
    )
    add_no_beat(parser)
    add_content_filter(parser)
    parser.set_defaults(run=main)


def main(settings: Settings, arguments: argparse.Namespace) -> int:
    """Runs ``rapbattle tournament``; the exit status."""
    if bool(arguments.models) == (arguments.roster is not None):
        print("rapbattle tournament: give the models, or --roster FILE (not both)", file=sys.stderr)
        return EXIT_USAGE
    # The progress display (or a few lines when piped) is the output.
    return run_in_terminal(
        _command(settings, arguments),
        "Stopped. Finished battles are kept; run the same command to go on.",
    )


async def _command(settings: Settings, arguments: argparse.Namespace) -> int:
    llm = LLMClient(settings)
    screening = content_filter(settings)
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
        check_options(roster, options)
        check_out_dir(options.out, roster)  # before judges or battles cost anything
        judges = PanelFactory(llm, catalog.resolve, settings.judge_models)
        panel = await judges.panel(parse_judge_list(arguments.judges or ""))
        screen = screening.at(arguments.content_filter)  # every verse, before its transcript
        player = RefereePlayer(llm, panel_judge(panel), arguments.pace, screen)
        if sys.stdout.isatty():
            with LiveProgress(Console(highlight=False)) as progress:
                tournament = Tournament(roster, player, options, progress)
                result = await tournament.run()
        else:
            tournament = Tournament(roster, player, options, PlainProgress(sys.stderr))
            result = await tournament.run()
        if arguments.audio:
            rounds, champion = result.progression.played_rounds, result.finished.champion
            album = await make_album(settings, options.out, rounds, champion, beat=arguments.beat)
            print(f"Album: {album}", file=sys.stderr)
    finally:
        await screening.close()
        await llm.close()
    return EXIT_OK
