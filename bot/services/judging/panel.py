"""The judges' panel: every judge reads the finished battle at once and the verdict is counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.engine.battle import Battle, Turn
from bot.engine.prompts import Message
from bot.engine.verdicts import (
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

log = logging.getLogger(__name__)

# A judge whose answer names neither side is asked this many times in all, then abstains.
JUDGE_ASKS = 2


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

    def __init__(self, llm: AnswerSource, judges: Sequence[str], *, recusal: bool = False) -> None:
        if not judges:
            raise ValueError("A panel needs at least one judge.")
        self._llm = llm
        self.judges = tuple(judges)
        self.recusal = recusal

    def seated(self, battle: Battle) -> tuple[str, ...]:
        """The judges who judge ``battle``."""
        return recused(self.judges, battle) if self.recusal else self.judges

    async def judge(self, battle: Battle, turns: Iterable[Turn]) -> Verdict:
        """Every seated judge at once; the verdict is ready after about one judge's latency.

        Judges never raise for a provider's fault: a judge that cannot answer abstains.
        """
        name_a, name_b = judged_names(battle)
        messages = judge_messages(judged_transcript(battle, turns), battle.topic)
        request = _JudgeRequest(messages, name_a, name_b)
        ballots = await asyncio.gather(
            *(self._ballot(judge, battle, request) for judge in self.seated(battle))
        )
        return Verdict(battle.model_a, battle.model_b, tuple(ballots))

    async def _ballot(self, judge: str, battle: Battle, request: _JudgeRequest) -> Ballot:
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
