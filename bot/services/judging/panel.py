"""The judges' panel: every judge reads the finished battle at once and the verdict is counted."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.engine.battle import Battle, Turn
from bot.engine.prompts import Message
from bot.engine.verdicts import (
    JUDGE_ASKS,
    Ballot,
    Verdict,
    judge_messages,
    judged_names,
    judged_transcript,
    judges_own_vendor,
    read_pick,
    recused,
    verdict_response_format,
)
from bot.llm import Completion, ModelError
from bot.observe import NO_OBSERVER, Observer

log = logging.getLogger(__name__)


class AnswerSource(Protocol):
    async def complete(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion: ...


class JudgePanel:
    """A panel of judge model ids (already resolved through the catalog).

    With ``recusal`` the judges from a contestant's lab sit the battle out; otherwise they judge
    and their ballots are marked ``same_vendor``.
    """

    def __init__(
        self,
        llm: AnswerSource,
        judges: Sequence[str],
        *,
        recusal: bool = False,
        observe: Observer = NO_OBSERVER,
    ) -> None:
        if not judges:
            raise ValueError("A panel needs at least one judge.")
        self._llm = llm
        self._observe = observe  # each judge's time
        self.judges = tuple(judges)
        self.recusal = recusal

    # Told of each ballot the moment it comes in (see ``reporting_to``); None: nobody is.
    _on_answer: Callable[[Ballot], Awaitable[None]] | None = None

    def reporting_to(self, on_answer: Callable[[Ballot], Awaitable[None]]) -> JudgePanel:
        """This panel, telling ``on_answer`` of each judge's ballot the moment it comes in."""
        panel = copy.copy(self)
        panel._on_answer = on_answer
        return panel

    def seated(self, battle: Battle) -> tuple[str, ...]:
        """The judges who judge ``battle``."""
        return recused(self.judges, battle) if self.recusal else self.judges

    async def judge(
        self,
        battle: Battle,
        turns: Iterable[Turn],
        *,
        answered: Mapping[str, Ballot] | None = None,
        on_answer: Callable[[Ballot], Awaitable[None]] | None = None,
    ) -> Verdict:
        """Every seated judge at once; the verdict is ready after about one judge's latency.

        Judges never raise for a provider's fault: a judge that cannot answer abstains.
        ``answered``: ballots already given for this battle (kept before a restart), whose
        judges are not asked again; ``on_answer`` is awaited with each new ballot as it comes.
        """
        name_a, name_b = judged_names(battle)
        messages = judge_messages(judged_transcript(battle, turns), battle.topic)
        request = _JudgeRequest(messages, name_a, name_b)
        given = answered or {}
        on_answer = on_answer or self._on_answer

        async def ballot_of(judge: str) -> Ballot:
            if judge in given:
                return given[judge]
            ballot = await self._ballot(judge, battle, request)
            if on_answer is not None:
                await on_answer(ballot)
            return ballot

        ballots = await asyncio.gather(*(ballot_of(judge) for judge in self.seated(battle)))
        return Verdict(battle.model_a, battle.model_b, tuple(ballots))

    async def _ballot(self, judge: str, battle: Battle, request: _JudgeRequest) -> Ballot:
        asked_at = time.monotonic()
        ballot = await self._asked(judge, battle, request)
        self._observe.judged(judge, time.monotonic() - asked_at)
        return ballot

    async def _asked(self, judge: str, battle: Battle, request: _JudgeRequest) -> Ballot:
        marked = judges_own_vendor(judge, battle)
        prompt_tokens = completion_tokens = 0
        for ask in range(1, JUDGE_ASKS + 1):
            try:
                answer = await self._llm.complete(
                    judge, request.messages, response_format=request.response_format
                )
            except ModelError as error:
                log.warning("Judge %s abstains: %s", judge, error)
                return Ballot.abstention(
                    judge,
                    str(error),
                    same_vendor=marked,
                    tokens=(prompt_tokens, completion_tokens),
                )
            prompt_tokens += answer.prompt_tokens
            completion_tokens += answer.completion_tokens
            pick = read_pick(answer.content, request.name_a, request.name_b)
            if pick is not None:
                return Ballot(
                    judge,
                    pick.side,
                    pick.statement,
                    same_vendor=marked,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            log.info("Judge %s named neither side (ask %d of %d)", judge, ask, JUDGE_ASKS)
        return Ballot.abstention(
            judge,
            f"{judge}: answered {JUDGE_ASKS} times without naming either side",
            same_vendor=marked,
            tokens=(prompt_tokens, completion_tokens),
        )


@dataclass(frozen=True, slots=True)
class _JudgeRequest:
    """What every judge of one battle is sent, and the two names a judge may answer."""

    messages: list[Message]
    name_a: str
    name_b: str

    @property
    def response_format(self) -> dict[str, Any]:
        return verdict_response_format(self.name_a, self.name_b)
