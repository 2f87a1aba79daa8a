"""The matchmaker: the models of a battle nobody named, picked for the leaderboard.

It gathers what the engine's rule (bot/engine/matchmaking.py) needs: the models that may be drawn,
the board's current fit, how often each pair has battled, and the channel's last pair; then asks
it once. Used by ``/battle`` without models, by schedules, and by ``rapbattle local``.

The models that may be drawn are the server's allowed models (``allowed_models``). Without an
allow-list they are the well-known models (the targets of the catalog's aliases, the built-in
ones and MODEL_ALIASES) and every model already on the board, of those the provider still lists;
when that leaves fewer than two, every model the provider lists.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from bot.engine.leaderboard import Board
from bot.engine.matchmaking import pick_pair
from bot.engine.ratings import Rating
from bot.engine.server_settings import ALLOWED_MODELS, ServerRules
from bot.models import ModelCatalog
from bot.services.battles.standings import StandingsService
from bot.store import Store

# What the title card says of a battle whose models the matchmaker picked.
MATCHED_LABEL = "Matched for the leaderboard"


class Matchmaker:
    """Picks a battle's models from a board's standings, its pair counts and the channel."""

    def __init__(
        self,
        catalog: ModelCatalog,
        store: Store | None = None,
        standings: StandingsService | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Without a ``store`` there is no history: every model is new, so the pair is drawn at
        random (``rapbattle local`` without a database)."""
        self._catalog = catalog
        self._store = store
        if standings is None and store is not None:
            standings = StandingsService(store)
        self._standings = standings
        self._rng = rng or random.Random()

    async def match(
        self,
        guild_id: int | None,
        channel_id: int | None = None,
        rules: ServerRules | None = None,
        fixed: str | None = None,
    ) -> tuple[str, str]:
        """(model_a, model_b) for a battle on ``guild_id``'s crowd board (None: the global one),
        in ``channel_id`` (None: no channel, so no last pair to avoid), under ``rules`` (None: no
        allow-list). With ``fixed`` (a resolved model id) that model is model_a and only its
        opponent is picked. A ``UserError`` when there are not two models to draw from."""
        if fixed is not None and rules is not None:
            rules.check_allowed(fixed)
        ratings: dict[str, Rating] = {}
        pairs: dict[frozenset[str], float] = {}
        last_pair = None
        if self._store is None or self._standings is None:
            return await self._pick(rules, ratings, pairs, fixed, last_pair)
        board = await self._standings.standings(guild_id, Board.CROWD)
        ratings = {row.model: row.rating for row in board}
        for record in await self._store.pair_records(guild_id, Board.CROWD):
            key = frozenset((record.model_a, record.model_b))
            pairs[key] = pairs.get(key, 0.0) + record.battles
        if guild_id is not None and channel_id is not None:
            last = await self._store.last_battle_in(guild_id, channel_id)
            if last is not None:
                last_pair = frozenset((last.battle.model_a, last.battle.model_b))
        return await self._pick(rules, ratings, pairs, fixed, last_pair)

    async def _pick(
        self,
        rules: ServerRules | None,
        ratings: dict[str, Rating],
        pairs: dict[frozenset[str], float],
        fixed: str | None,
        last_pair: frozenset[str] | None,
    ) -> tuple[str, str]:
        allowed = await self.pool(rules, list(ratings))
        return pick_pair(allowed, ratings, pairs, fixed=fixed, last_pair=last_pair, rng=self._rng)

    async def pool(self, rules: ServerRules | None, on_board: Sequence[str]) -> list[str]:
        """The models that may be drawn (see this module's docstring)."""
        allowed = rules[ALLOWED_MODELS] if rules is not None else None
        if allowed:
            return sorted(allowed)
        await self._catalog.refresh_if_stale()
        listed = self._catalog.known_ids() if self._catalog.loaded else []
        known = set(self._catalog.aliases.values()).union(on_board)
        if listed:
            known &= set(listed)
        if len(known) >= 2 or not listed:
            return sorted(known)
        return sorted(listed)
