"""A battle's record as it is shown: what each verse cost, in the order the verses were written,
and each turn stored right after it is posted, so a restart loses nothing that was shown."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from bot.engine.battle import Battle, Turn
from bot.engine.house_rules import Pricing
from bot.engine.prompts import Message
from bot.engine.spend import TokenUsage
from bot.observe import NO_OBSERVER, Observer
from bot.services.battles.referee import MeteredVerseSource, VerseSource
from bot.services.stage import BattleStage
from bot.store import Store


class MeteredVerses:
    """A battle's verse source that keeps what each verse cost, in the order the verses were
    written. The referee requests verses in the battle's order and posts them in that same
    order, so the n-th verse posted is the n-th one written."""

    def __init__(
        self,
        models: VerseSource,
        pricing: Mapping[str, Pricing],
        observe: Observer = NO_OBSERVER,
    ) -> None:
        self._models = models
        self._pricing = pricing
        self._observe = observe  # what each verse cost, in dollars
        self._usage: deque[TokenUsage | None] = deque()

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        if not isinstance(self._models, MeteredVerseSource):
            text = await self._models.generate_verse(model, messages, on_progress)
            self._usage.append(None)
            return text
        written = await self._models.write_verse(model, messages, on_progress)
        usage = written.usage.priced(self._pricing.get(model)) if written.usage else None
        self._usage.append(usage)
        if usage is not None and usage.cost_usd is not None:
            self._observe.spent("verse", usage.cost_usd)
        return written.text

    def next_usage(self) -> TokenUsage | None:
        """What the next verse to be posted cost (None when its source did not say)."""
        return self._usage.popleft() if self._usage else None


class PersistingStage:
    """Stores each turn right after it is posted, so a restart loses nothing that was shown;
    each verse with what it cost."""

    def __init__(
        self,
        inner: BattleStage,
        store: Store,
        battle_id: int,
        meter: MeteredVerses,
        observe: Observer = NO_OBSERVER,
    ) -> None:
        self._inner = inner
        self._observe = observe  # how long each verse took to post
        self._store = store
        self._battle_id = battle_id
        self._meter = meter
        self._position = 0
        self.writing = inner.writing
        self.pausing = inner.pausing

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        usage = self._meter.next_usage()
        posting_since = time.monotonic()
        await self._inner.post_verse(battle, turn)
        self._observe.verse_posted(time.monotonic() - posting_since)
        await self._keep(turn, usage)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self._inner.announce(battle, turn)
        await self._keep(turn, None)

    async def _keep(self, turn: Turn, usage: TokenUsage | None) -> None:
        await self._store.add_turn(self._battle_id, self._position, turn, usage)
        self._position += 1
