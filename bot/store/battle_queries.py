"""Battles in the store's shared SQL: a battle's row and the moves of its state, its turns,
and the ballots counted when its vote closed (which, in the same transaction, rate it on the
crowd's board).

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders;
state moves are conditional on the state they leave (``UPDATE ... WHERE state = ?``), so that of
two racing changes only one applies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from bot.engine.battle import Battle, Side, Turn
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, check_move
from bot.engine.spend import TokenUsage
from bot.engine.vote_audit import SetAsideVote
from bot.engine.votes import Tally
from bot.store.aggregates import CROWD_TABLES, RatedOutcome, add_outcome
from bot.store.audit_queries import keep_set_aside
from bot.store.base import BattleState, NewBattle, StoredBattle
from bot.store.executor import Executor, Row, SQLDatabase

# A battle's columns as a StoredBattle holds them, in _stored_battle's order.
BATTLE_NAMES = (
    "id",
    "guild_id",
    "channel_id",
    "starter_id",
    "model_a",
    "model_b",
    "rounds",
    "topic",
    "blind",
    "sides_swapped",
    "state",
    "reason",
    "created_at",
    "vote_message_id",
    "vote_closes_at",
    "emoji_a",
    "emoji_b",
    "votes_a",
    "votes_b",
    "results_message_id",
    "thread_id",
    "unrated_reason",
    "votes_set_aside",
    "scheduled",
)
_BATTLE_COLUMNS = ", ".join(BATTLE_NAMES)


class BattleQueries(SQLDatabase):
    """Mixed into SQLStore: battles, their turns and their ballots."""

    async def create_battle(self, new: NewBattle, now: float) -> StoredBattle:
        battle = new.battle
        async with self._change() as db:
            rows = await db.fetch(
                "INSERT INTO battles (guild_id, channel_id, starter_id, model_a, model_b, rounds,"
                " topic, blind, sides_swapped, state, created_at, scheduled)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    new.guild_id,
                    new.channel_id,
                    new.starter_id,
                    battle.model_a,
                    battle.model_b,
                    battle.rounds,
                    battle.topic,
                    battle.blind,
                    new.sides_swapped,
                    BattleState.RUNNING.value,
                    now,
                    new.scheduled,
                ),
            )
        return StoredBattle(
            rows[0][0],
            new.guild_id,
            new.channel_id,
            new.starter_id,
            battle,
            new.sides_swapped,
            BattleState.RUNNING,
            now,
            scheduled=new.scheduled,
        )

    async def add_turn(
        self, battle_id: int, position: int, turn: Turn, usage: TokenUsage | None = None
    ) -> None:
        async with self._change() as db:
            await db.execute(
                "INSERT INTO turns (battle_id, position, speaker, side, round, text,"
                " prompt_tokens, completion_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    battle_id,
                    position,
                    turn.speaker,
                    turn.side.value if turn.side else None,
                    turn.round,
                    turn.text,
                    usage.prompt_tokens if usage else None,
                    usage.completion_tokens if usage else None,
                    usage.cost_usd if usage else None,
                ),
            )

    async def end_battle(self, battle_id: int, state: BattleState, reason: str | None) -> bool:
        if state not in ENDED_WITHOUT_VOTE:
            raise ValueError(f"{state} is not an end without a vote")
        return await self._move(battle_id, BattleState.RUNNING, state, "reason = ?", (reason,))

    async def abandon_vote(self, battle_id: int, reason: str) -> bool:
        return await self._move(
            battle_id, BattleState.VOTING, BattleState.NO_CONTEST, "reason = ?", (reason,)
        )

    async def open_voting(
        self, battle_id: int, message_id: int, closes_at: float, emoji: Mapping[Side, str]
    ) -> bool:
        return await self._move(
            battle_id,
            BattleState.RUNNING,
            BattleState.VOTING,
            "vote_message_id = ?, vote_closes_at = ?, emoji_a = ?, emoji_b = ?",
            (message_id, closes_at, emoji[Side.A], emoji[Side.B]),
        )

    async def close_voting(
        self,
        battle_id: int,
        tally: Tally,
        now: float,
        *,
        set_aside: int = 0,
        set_aside_votes: Sequence[SetAsideVote] = (),
    ) -> bool:
        check_move(BattleState.VOTING, BattleState.CLOSED)
        async with self._change() as db:
            # Conditional on the state, so of two closers only one changes the row: on Postgres
            # the second waits for the first's row lock, then sees the state already moved.
            changed = await db.execute(
                "UPDATE battles SET state = ?, votes_a = ?, votes_b = ?, closed_at = ?,"
                " votes_set_aside = ? WHERE id = ? AND state = ?",
                (
                    BattleState.CLOSED.value,
                    tally.votes(Side.A),
                    tally.votes(Side.B),
                    now,
                    set_aside,
                    battle_id,
                    BattleState.VOTING.value,
                ),
            )
            if changed != 1:
                return False
            await db.executemany(
                "INSERT INTO ballots (battle_id, user_id, side) VALUES (?, ?, ?)",
                [(battle_id, user, side.value) for user, side in tally.ballots.items()],
            )
            await keep_set_aside(db, battle_id, set_aside_votes)
            await _add_to_aggregates(db, battle_id, tally)
        return True

    async def set_results_message(self, battle_id: int, message_id: int) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET results_message_id = ? WHERE id = ?", (message_id, battle_id)
            )

    async def set_thread(self, battle_id: int, thread_id: int) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET thread_id = ? WHERE id = ?", (thread_id, battle_id)
            )

    async def set_unrated(self, battle_id: int, reason: str) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET unrated_reason = ? WHERE id = ?", (reason, battle_id)
            )

    async def results_undeliverable(self, battle_id: int, reason: str) -> None:
        async with self._change() as db:
            await db.execute(
                "UPDATE battles SET reason = ? WHERE id = ? AND state = ?"
                " AND results_message_id IS NULL",
                (reason, battle_id, BattleState.CLOSED.value),
            )

    async def _move(
        self,
        battle_id: int,
        from_state: BattleState,
        to_state: BattleState,
        assignments: str,
        values: tuple[Any, ...],
    ) -> bool:
        check_move(from_state, to_state)
        async with self._change() as db:
            changed = await db.execute(
                f"UPDATE battles SET state = ?, {assignments} WHERE id = ? AND state = ?",
                (to_state.value, *values, battle_id, from_state.value),
            )
            return changed == 1

    async def battle(self, battle_id: int) -> StoredBattle | None:
        rows = await self._battles("WHERE id = ?", (battle_id,))
        return rows[0] if rows else None

    async def battles_in(self, states: Collection[BattleState]) -> list[StoredBattle]:
        if not states:
            return []  # Postgres refuses an empty IN ().
        marks = ", ".join("?" for _ in states)
        return await self._battles(
            f"WHERE state IN ({marks}) ORDER BY id", tuple(s.value for s in states)
        )

    async def unannounced_results(self) -> list[StoredBattle]:
        return await self._battles(
            "WHERE state = ? AND results_message_id IS NULL AND reason IS NULL ORDER BY id",
            (BattleState.CLOSED.value,),
        )

    async def _battles(self, where: str, values: tuple[Any, ...]) -> list[StoredBattle]:
        rows = await self._fetch(f"SELECT {_BATTLE_COLUMNS} FROM battles {where}", values)
        return [_stored_battle(row) for row in rows]

    async def turns(self, battle_id: int) -> list[Turn]:
        rows = await self._fetch(
            "SELECT speaker, text, side, round FROM turns WHERE battle_id = ? ORDER BY position",
            (battle_id,),
        )
        return [
            Turn(speaker, text, Side(side) if side else None, round_number)
            for speaker, text, side, round_number in rows
        ]

    async def turn_usage(self, battle_id: int) -> list[TokenUsage | None]:
        rows = await self._fetch(
            "SELECT prompt_tokens, completion_tokens, cost_usd FROM turns"
            " WHERE battle_id = ? ORDER BY position",
            (battle_id,),
        )
        return [None if row[0] is None else TokenUsage(row[0], row[1], row[2]) for row in rows]

    async def ballots(self, battle_id: int) -> dict[int, Side]:
        rows = await self._fetch(
            "SELECT user_id, side FROM ballots WHERE battle_id = ?", (battle_id,)
        )
        return {user: Side(side) for user, side in rows}

    async def last_start(self, guild_id: int, user_id: int) -> float | None:
        rows = await self._fetch(
            "SELECT MAX(created_at) FROM battles WHERE guild_id = ? AND starter_id = ?",
            (guild_id, user_id),
        )
        return rows[0][0] if rows else None

    async def recent_battles(
        self, guild_id: int, model: str | None = None, limit: int = 10
    ) -> list[StoredBattle]:
        if model is None:
            return await self._battles(
                "WHERE guild_id = ? ORDER BY id DESC LIMIT ?", (guild_id, limit)
            )
        return await self._battles(
            "WHERE guild_id = ? AND (model_a = ? OR model_b = ?) ORDER BY id DESC LIMIT ?",
            (guild_id, model, model, limit),
        )

    async def last_battle_in(self, guild_id: int, channel_id: int) -> StoredBattle | None:
        # The server's battles newest first (battles_by_guild), to the channel's newest.
        rows = await self._battles(
            "WHERE guild_id = ? AND channel_id = ? ORDER BY id DESC LIMIT 1",
            (guild_id, channel_id),
        )
        return rows[0] if rows else None


async def _add_to_aggregates(db: Executor, battle_id: int, tally: Tally) -> None:
    """Rated battles feed the pair and model aggregates, inside the closing transaction."""
    score_a = tally.score_a()
    rows = await db.fetch(
        "SELECT guild_id, model_a, model_b, unrated_reason FROM battles WHERE id = ?",
        (battle_id,),
    )
    guild_id, model_a, model_b, unrated_reason = rows[0]
    if score_a is None or model_a == model_b or unrated_reason is not None:
        return  # No votes, a model against itself, or a blind battle that leaked: not rated.
    votes = {side: tally.votes(side) for side in Side}
    outcome = RatedOutcome(guild_id, model_a, model_b, score_a, tally.winner, votes)
    await add_outcome(db, CROWD_TABLES, outcome)


def _stored_battle(row: Row) -> StoredBattle:
    (
        battle_id,
        guild_id,
        channel_id,
        starter_id,
        model_a,
        model_b,
        rounds,
        topic,
        blind,
        swapped,
        state,
        reason,
        created_at,
        vote_message_id,
        vote_closes_at,
        emoji_a,
        emoji_b,
        votes_a,
        votes_b,
        results_message_id,
        thread_id,
        unrated_reason,
        votes_set_aside,
        scheduled,
    ) = row
    return StoredBattle(
        id=battle_id,
        guild_id=guild_id,
        channel_id=channel_id,
        starter_id=starter_id,
        battle=Battle(model_a, model_b, rounds, topic, bool(blind)),
        sides_swapped=bool(swapped),
        state=BattleState(state),
        created_at=created_at,
        reason=reason,
        vote_message_id=vote_message_id,
        vote_closes_at=vote_closes_at,
        emoji={Side.A: emoji_a, Side.B: emoji_b} if emoji_a and emoji_b else None,
        votes_a=votes_a,
        votes_b=votes_b,
        results_message_id=results_message_id,
        thread_id=thread_id,
        unrated_reason=unrated_reason,
        votes_set_aside=votes_set_aside,
        scheduled=bool(scheduled),
    )
