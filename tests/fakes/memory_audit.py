"""The vote audit's part of the in-memory store, keeping bot/store/audit_queries.py's contract:
set-aside votes, picks read back, and exclusions that move a member's votes and the board."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.battle import Side
from bot.engine.leaderboard import ModelRecord
from bot.engine.vote_audit import SetAsideReason, SetAsideVote, VotePick
from bot.store.audits import BoardDelta, VoterChange
from bot.store.base import BattleState

if TYPE_CHECKING:
    from tests.fakes.memory_store import MemoryTables


class MemoryAudit:
    """Mixed into MemoryStore."""

    _tables: MemoryTables

    if TYPE_CHECKING:  # MemoryStore's own

        def _change(self) -> contextlib.AbstractContextManager[MemoryTables]: ...

    async def set_aside_votes(self, battle_id: int) -> list[SetAsideVote]:
        await _round_trip()
        kept = self._tables.set_aside_ballots.get(battle_id, {})
        return [kept[user] for user in sorted(kept)]

    async def vote_picks(self, guild_id: int, user_id: int | None = None) -> list[VotePick]:
        await _round_trip()
        picks = []
        for battle_id, stored in sorted(self._tables.battles.items(), reverse=True):
            if stored.guild_id != guild_id or stored.state is not BattleState.CLOSED:
                continue
            a, b = stored.votes_a or 0, stored.votes_b or 0
            models = stored.battle.model_a, stored.battle.model_b
            found = [
                VotePick(battle_id, user, side, None, a, b, *models)
                for user, side in self._tables.ballots.get(battle_id, {}).items()
            ] + [
                VotePick(battle_id, vote.user_id, vote.side, vote.reason, a, b, *models)
                for vote in self._tables.set_aside_ballots.get(battle_id, {}).values()
            ]
            picks += sorted(
                (p for p in found if user_id is None or p.user_id == user_id),
                key=lambda p: p.user_id,
            )
        return picks

    async def excluded_voters(self, guild_id: int) -> frozenset[int]:
        await _round_trip()
        return frozenset(user for guild, user in self._tables.voter_exclusions if guild == guild_id)

    async def votes_counted_since(
        self, guild_id: int, user_ids: Collection[int], since: float
    ) -> dict[int, int]:
        await _round_trip()
        counts: dict[int, int] = {}
        for battle_id, ballots in self._tables.ballots.items():
            stored = self._tables.battles[battle_id]
            closed_at = self._tables.closed_at.get(battle_id)
            if stored.guild_id != guild_id or closed_at is None or closed_at < since:
                continue
            for user in ballots:
                if user in user_ids:
                    counts[user] = counts.get(user, 0) + 1
        return counts

    async def set_voter_excluded(
        self, guild_id: int, user_id: int, excluded: bool, changed_by: int, now: float
    ) -> VoterChange | None:
        await _round_trip()
        with self._change() as tables:
            key = (guild_id, user_id)
            if (key in tables.voter_exclusions) == excluded:
                return None
            if excluded:
                tables.voter_exclusions.add(key)
            else:
                tables.voter_exclusions.discard(key)
            moved = _move_votes(tables, guild_id, user_id, excluded)
            change = VoterChange(guild_id, user_id, excluded, changed_by, now, moved)
            tables.voter_changes.append(change)
            return change

    async def voter_changes(self, guild_id: int, user_id: int | None = None) -> list[VoterChange]:
        await _round_trip()
        return [
            change
            for change in self._tables.voter_changes
            if change.guild_id == guild_id and (user_id is None or change.user_id == user_id)
        ]


def keep_set_aside(tables: MemoryTables, battle_id: int, votes: Collection[SetAsideVote]) -> None:
    """As audit_queries.keep_set_aside, inside close_voting's change."""
    kept = tables.set_aside_ballots.setdefault(battle_id, {})
    for vote in votes:
        kept[vote.user_id] = vote


def _move_votes(tables: MemoryTables, guild_id: int, user_id: int, exclude: bool) -> int:
    delta, moved = BoardDelta(), 0
    for battle_id, stored in sorted(tables.battles.items()):
        if stored.guild_id != guild_id or stored.state is not BattleState.CLOSED:
            continue
        ballots = tables.ballots.setdefault(battle_id, {})
        set_aside = tables.set_aside_ballots.setdefault(battle_id, {})
        if exclude and user_id in ballots:
            side = ballots.pop(user_id)
            set_aside[user_id] = SetAsideVote(user_id, side, SetAsideReason.EXCLUDED)
            step = -1
        elif not exclude and _excluded_vote(set_aside.get(user_id)):
            side = set_aside.pop(user_id).side
            assert side is not None
            ballots[user_id] = side
            step = 1
        else:
            continue
        moved += 1
        a, b = stored.votes_a or 0, stored.votes_b or 0
        now_a, now_b = a + step * (side is Side.A), b + step * (side is Side.B)
        tables.battles[battle_id] = replace(
            stored,
            votes_a=now_a,
            votes_b=now_b,
            votes_set_aside=(stored.votes_set_aside or 0) - step,
        )
        if stored.unrated_reason is None:
            model_a, model_b = stored.battle.model_a, stored.battle.model_b
            delta.add(guild_id, model_a, model_b, a, b, -1)
            delta.add(guild_id, model_a, model_b, now_a, now_b, +1)
    if delta:
        _apply(tables, delta, guild_id)
    return moved


def _excluded_vote(vote: SetAsideVote | None) -> bool:
    return vote is not None and vote.reason is SetAsideReason.EXCLUDED


def _apply(tables: MemoryTables, delta: BoardDelta, guild_id: int) -> None:
    from tests.fakes.memory_store import _PairStats  # the fake's own row type

    for key, (battles, score, score_sq) in sorted(delta.pairs.items()):
        pair = tables.pair_stats.setdefault(key, _PairStats())
        pair.battles += battles
        pair.score_a += score
        pair.score_sq += score_sq
        if pair.battles < 0.5:
            del tables.pair_stats[key]
    for key, changes in sorted(delta.models.items()):
        old = tables.model_stats.get(key, ModelRecord())
        record = ModelRecord(*(was + by for was, by in zip(_fields(old), changes, strict=True)))
        if record.battles <= 0:
            tables.model_stats.pop(key, None)
        else:
            tables.model_stats[key] = record
    tables.rating_versions[guild_id] = tables.rating_versions.get(guild_id, 0) + 1


def _fields(record: ModelRecord) -> Iterator[int]:
    yield from (record.wins, record.losses, record.draws, record.battles, record.votes)


async def _round_trip() -> None:
    """Lets other tasks run here, as waiting for a database would."""
    await asyncio.sleep(0)
