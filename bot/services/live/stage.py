"""A battle's stage, performed live as well: the text stage as it is, with the voice joining
before the title card and every turn played as it is posted (``LiveShow``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import RatingChange
from bot.engine.spend import CostEstimate
from bot.engine.verdicts import Verdict
from bot.engine.votes import LiveTally, Tally
from bot.services.live.show import LiveShow
from bot.services.stage import Attachment, BattleStage


class LiveStage:
    """``stage`` (a ``BattleStage``), with ``show`` performing the battle in a voice channel."""

    def __init__(self, stage: BattleStage, show: LiveShow) -> None:
        self._stage = stage
        self.show = show

    @property
    def place_id(self) -> int:
        return self._stage.place_id

    async def post_title_card(
        self,
        battle: Battle,
        starter_mention: str,
        estimate: CostEstimate | None = None,
        *,
        label: str | None = None,
    ) -> None:
        await self.show.open(self._stage.post_notice)

        async def post() -> None:
            await self._stage.post_title_card(battle, starter_mention, estimate, label=label)

        await self.show.perform_title(post)

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        await self.show.perform(turn, lambda: self._stage.post_verse(battle, turn))

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self.show.perform(turn, lambda: self._stage.announce(battle, turn))

    def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AbstractAsyncContextManager[None]:
        return self._stage.writing(battle, turn, progress)

    def pausing(self, battle: Battle, seconds: float) -> AbstractAsyncContextManager[None]:
        return self._stage.pausing(battle, seconds)

    async def post_vote(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        closes_at: float,
        *,
        key: str | None = None,
    ) -> int:
        return await self._stage.post_vote(battle, emoji, closes_at, key=key)

    async def recount(
        self, vote_message_id: int, emoji: Mapping[Side, str], live: LiveTally | None = None
    ) -> Tally:
        return await self._stage.recount(vote_message_id, emoji, live)

    async def post_results(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        tally: Tally,
        changes: Sequence[RatingChange] = (),
        *,
        notes: Sequence[str] = (),
        link: str | None = None,
        attachment: Attachment | None = None,
        key: str | None = None,
    ) -> int:
        return await self._stage.post_results(
            battle, emoji, tally, changes, notes=notes, link=link, attachment=attachment, key=key
        )

    async def post_notice(self, text: str, *, key: str | None = None) -> None:
        await self._stage.post_notice(text, key=key)

    async def post_verdict(
        self, battle: Battle, verdict: Verdict, crowd: Tally | None, *, key: str | None = None
    ) -> int:
        return await self._stage.post_verdict(battle, verdict, crowd, key=key)
