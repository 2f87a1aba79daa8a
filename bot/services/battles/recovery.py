"""A battle that was running when its process died, picked up at the next start.

A process can die between any two steps, including between a post and the store's record of it,
so every post made here goes under the key the battle's own session used for it
(``battle_post``): a post that was already shown is shown again as itself, not twice.
"""

from __future__ import annotations

from typing import Protocol

from bot.engine.battle import Turn
from bot.engine.discord_limits import snowflake_time
from bot.engine.lifecycle import BattleState
from bot.engine.server_settings import VOTE_SECONDS, ServerRules
from bot.services.battles.sessions import (
    ENDING,
    VoteSession,
    battle_post,
    check_identity_leaks,
    interrupted_notice,
    quietly,
)
from bot.services.stage import BattleStage, StageError, StageFactory
from bot.store import Store, StoredBattle

INTERRUPTED_REASON = "the bot restarted mid-battle"
# A vote message made this long before it was asked for again is the one posted before the death.
EARLIER_POST_SECONDS = 1.0


class RecoveryOwner(Protocol):
    """What recovering a battle needs from whoever runs the battles (the arena)."""

    store: Store
    stages: StageFactory

    def clock(self) -> float: ...

    async def rules_for(self, guild_id: int) -> ServerRules: ...

    def open_vote(
        self, stored: StoredBattle, *, listening_since: int | None = None
    ) -> VoteSession: ...


async def recover_running(owner: RecoveryOwner, stored: StoredBattle) -> None:
    """Every verse shown (the process died opening the vote, or just before): the vote goes on,
    and a vote message already shown is the one that counts. Otherwise the battle ends as
    interrupted, and its channel is told once: the notice first, then the record, so that a
    death in between only means the next start tells it again, under the same key."""
    turns = await owner.store.turns(stored.id)
    stage = owner.stages.stage_for(stored.place_id)
    if len(turns) == len(stored.battle.plan()) and await _vote_again(owner, stored, stage, turns):
        return
    notice = interrupted_notice(stored.id, INTERRUPTED_REASON)
    try:
        await quietly(stage.post_notice(notice, key=battle_post(stored, ENDING)))
    finally:  # even a bug while telling the channel ends the battle
        await owner.store.end_battle(stored.id, BattleState.INTERRUPTED, INTERRUPTED_REASON)


async def _vote_again(
    owner: RecoveryOwner, stored: StoredBattle, stage: BattleStage, turns: list[Turn]
) -> bool:
    """Opens the vote of a battle whose verses were all shown; False if it cannot be posted."""
    rules = await owner.rules_for(stored.guild_id)
    await check_identity_leaks(owner.store, stored, turns)  # as its session would have
    asked_at = owner.clock()
    closes_at = asked_at + rules[VOTE_SECONDS]
    try:
        message_id = await stage.post_vote(
            stored.battle, rules.emoji, closes_at, key=battle_post(stored, "vote")
        )
    except StageError:
        return False
    closes_at = shown_closing_time(stored, message_id, asked_at, rules[VOTE_SECONDS]) or closes_at
    closes_at = max(closes_at, owner.clock())  # a closing time already past closes it now
    if await owner.store.open_voting(stored.id, message_id, closes_at, rules.emoji):
        reopened = await owner.store.battle(stored.id)
        assert reopened is not None
        owner.open_vote(reopened)  # a vote picked up after a restart is always recounted
    return True


def shown_closing_time(
    stored: StoredBattle, message_id: int, asked_at: float, vote_seconds: float
) -> float | None:
    """The closing time a vote message posted before the death shows (it was posted then, with
    the vote's length from that moment), or None for a message posted just now. The message's
    id says when it was made; one from before the battle began is no Discord message at all."""
    posted_at = snowflake_time(message_id)
    if stored.created_at <= posted_at < asked_at - EARLIER_POST_SECONDS:
        return posted_at + vote_seconds
    return None
