"""The terminal's match player: a battle through the referee, then the judges' panel.

Nobody watches a terminal tournament's battles live, so they go to an unseen stage; the judges
start the moment the last verse is written. A model that delivers no verse after the retries
forfeits; a fault that would fail every battle alike (a rejected key, an unreachable provider)
stops the run instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import Battle, Turn
from bot.engine.pacing import Pace
from bot.engine.prompts import Message
from bot.engine.tournament import Pairing, decide
from bot.engine.transcript import transcript_of
from bot.engine.verdicts import VerdictFile
from bot.errors import UserError
from bot.llm import is_the_models_fault
from bot.services.battles.bout import Bout
from bot.services.battles.referee import Outcome, VerseScreen, VerseSource
from bot.services.judging.panel import JudgePanel

# Nobody reads a tournament's verses as they arrive, so by default they are not paced.
NO_PACE = Pace(0)


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
            Pairing(0, battle.model_a, battle.model_b),
            verdict.score,
            verdict.forfeit,
            verdict.withheld,
        )
        note = decision.note if decision.is_tie else None
        return cls(transcript, verdict.to_yaml(), decision.winner, note, verdict.forfeit, tokens)


class BattlePlayer(Protocol):
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

    def __init__(
        self,
        models: VerseSource,
        judge: JudgeStep,
        pace: Pace = NO_PACE,
        screen: VerseScreen | None = None,
    ) -> None:
        """``screen``: the content filter each verse goes through (None: kept as written)."""
        self._models = models
        self._judge = judge
        self._pace = pace
        self._screen = screen

    async def play(self, battle: Battle) -> MatchRecord:
        models = _FaultRecorder(self._models)
        # The judges start the moment the last verse is written, through the bout.
        bout = Bout(
            battle,
            models,
            _UnseenStage(),
            self._pace,
            jury=_StepJury(self._judge),
            screen=self._screen,
        )
        bouted = await bout.run()
        result = bouted.verses
        transcript = transcript_of(battle, result.turns)
        if bouted.verdict is not None:
            judgement = await bouted.verdict
            verdict = VerdictFile(judgement.statements, judgement.score)
            return MatchRecord.of(battle, transcript, verdict, judgement.tokens)
        if result.withheld is not None:
            # A withheld verse is never shown, its line is in the transcript, and its MC forfeits.
            forfeit = battle.model(result.withheld.side)
            why = result.withheld.category.value
            verdict = VerdictFile({}, {}, forfeit=forfeit, withheld=why)
            return MatchRecord.of(battle, transcript, verdict, 0)
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


def panel_judge(panel: JudgePanel) -> JudgeStep:
    """A seated judges' panel (bot/services/judging/factory.py) as a judge step."""

    async def judge(battle: Battle, turns: Sequence[Turn]) -> Judgement:
        verdict = await panel.judge(battle, turns)
        data = VerdictFile.of(verdict)
        tokens = verdict.prompt_tokens + verdict.completion_tokens
        return Judgement(data.score, data.closing_statements, tokens)

    return judge
