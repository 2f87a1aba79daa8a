"""A terminal tournament's folder: the tournament's own file layout, written so that a run stopped
at any moment goes on where it stopped.

``round{r}/contestants.txt`` lists a round's contestants, ``round{r}/{k}.txt`` and ``{k}.yml`` are
battle k's transcript and verdict, and ``results.md`` is rewritten after every round. Every file is
written under a temporary name and renamed; a battle whose transcript and verdict both exist is
never played again. ``FolderTournament`` is the terminal's match player and scoreboard for the
one runner (bot/services/tournaments/runner.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.engine.battle import Battle
from bot.engine.progression import Finished, Match, Progression
from bot.engine.tournament import (
    Decision,
    Pairing,
    RoundPlan,
    TournamentFormat,
    decide,
    render_results,
)
from bot.engine.transcript import header
from bot.engine.verdicts import VerdictFile
from bot.errors import UserError
from bot.services.tournaments.panel_player import BattlePlayer, MatchRecord

RESULTS_FILE = "results.md"
CONTESTANTS_FILE = "contestants.txt"


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


class FolderTournament:
    """Plays each match through ``battles`` and keeps it in ``out``; reads back what is there."""

    def __init__(
        self,
        out: Path,
        battles: BattlePlayer,
        battle_rounds: int,
        progress: Progress | None = None,
    ) -> None:
        self.out = out
        self.battles = battles
        self.battle_rounds = battle_rounds
        self.progress = progress or SilentProgress()

    @property
    def results_path(self) -> Path:
        return self.out / RESULTS_FILE

    # -- the match player ----------------------------------------------------------------------

    async def decided(self, match: Match) -> Decision | None:
        """A finished battle's decision from its files, or None to play it (again)."""
        pairing = match.pairing
        folder = self._round_folder(match.round)
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
        decision = _decision(pairing, verdict_path.read_text(encoding="utf-8"), verdict_path)
        self.progress.battle_finished(pairing, None)
        return decision

    async def play(self, match: Match) -> Decision:
        pairing = match.pairing
        folder = self._round_folder(match.round)
        self.progress.battle_started(pairing)
        battle = Battle(pairing.side_a, pairing.side_b, rounds=self.battle_rounds)
        record = await self.battles.play(battle)
        verdict_path = folder / f"{pairing.index}.yml"
        decision = _decision(pairing, record.verdict_yaml, verdict_path)
        if (decision.winner, decision.forfeit) != (record.winner, record.forfeit):
            raise RuntimeError(
                f"The player's winner {record.winner} of {battle.model_a} v {battle.model_b} "
                f"is not the verdict's ({decision.winner})."
            )
        # The transcript first: a battle counts as finished only once its verdict exists too,
        # so a verdict left from an earlier attempt goes before the new transcript arrives.
        verdict_path.unlink(missing_ok=True)
        write_atomically(folder / f"{pairing.index}.txt", record.transcript)
        write_atomically(verdict_path, record.verdict_yaml)
        self.progress.battle_finished(pairing, record)
        return decision

    # -- the scoreboard ------------------------------------------------------------------------

    async def round_planned(self, progression: Progression, number: int, plan: RoundPlan) -> None:
        self._settle_contestants(number, plan.contestants)
        self.progress.round_started(number, plan, progression.total_rounds)

    async def round_decided(self, progression: Progression, number: int) -> None:
        results = render_results(
            progression.tournament_format, progression.seeds, progression.played_rounds
        )
        write_atomically(self.results_path, results)

    async def finished(self, progression: Progression, result: Finished) -> None:
        rounds = len(progression.rounds)
        if progression.tournament_format is TournamentFormat.SINGLE:
            self._settle_contestants(rounds, (result.champion,))
            summary = f"Champion: {result.champion}; results in {self.results_path}"
        else:
            if result.note is not None:
                results = render_results(
                    progression.tournament_format,
                    progression.seeds,
                    progression.played_rounds,
                    ended_early=result.note,
                )
                write_atomically(self.results_path, results)
            summary = f"{rounds} Swiss rounds played; results in {self.results_path}"
            if result.note is not None:
                summary = f"{result.note} {summary}"
        self.progress.finished(summary)

    def _round_folder(self, number: int) -> Path:
        return self.out / f"round{number}"

    def _settle_contestants(self, number: int, contestants: Sequence[str]) -> None:
        path = self._round_folder(number) / CONTESTANTS_FILE
        text = contestants_text(contestants)
        if path.is_file():
            if path.read_text(encoding="utf-8") != text:
                raise UserError(
                    f"{path} lists other contestants than this run reaches: "
                    f"{self.out} holds a different tournament; use another --out."
                )
            return
        write_atomically(path, text)


def _decision(pairing: Pairing, verdict_text: str, where: Path) -> Decision:
    try:
        verdict = VerdictFile.from_yaml(verdict_text)
        return decide(pairing, verdict.score, verdict.forfeit, verdict.withheld)
    except ValueError as error:
        battle = f"{pairing.side_a} v {pairing.side_b}"
        raise UserError(f"{where} is not a verdict of {battle}: {error}") from None


def contestants_text(contestants: Sequence[str]) -> str:
    return "".join(f"{model}\n" for model in contestants)


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
