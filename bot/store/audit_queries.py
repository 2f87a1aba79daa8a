"""The vote audit in the store's shared SQL: the votes set aside at a close and why, every pick
read back, and the members a server's admins set aside (with the log of those changes).

SQLStore inherits these, so they run on SQLite and PostgreSQL alike; tests/fakes/memory_audit.py
keeps the same contract in memory. An exclusion moves a member's counted votes to
``set_aside_ballots`` and takes them out of their battles' counts and the crowd board's
aggregates in one transaction, by relative updates (``votes_a = votes_a - 1``), so two admins
excluding two voters of one battle at once both count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from bot.engine.battle import Side
from bot.engine.lifecycle import BattleState
from bot.engine.vote_audit import SetAsideReason, SetAsideVote, VotePick
from bot.store.aggregates import CROWD_TABLES, bump_rating_version
from bot.store.audits import BoardDelta, VoterChange
from bot.store.executor import Executor, Row, SQLDatabase

_CHANGE_NAMES = (
    "guild_id",
    "user_id",
    "position",
    "action",
    "changed_by",
    "changed_at",
    "votes_moved",
)
# For copying a whole store (copy_queries.py's COPIED_TABLES): columns and ordering key.
AUDIT_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "set_aside_ballots": (("battle_id", "user_id", "side", "reason"), "battle_id, user_id"),
    "voter_exclusions": (("guild_id", "user_id"), "guild_id, user_id"),
    "voter_changes": (_CHANGE_NAMES, "guild_id, user_id, position"),
}
_EXCLUDE, _INCLUDE = "exclude", "include"
# Votes asked about at once by the daily cap's count, well under every backend's limit on
# placeholders in one statement.
_USERS_PER_QUERY = 500


async def keep_set_aside(db: Executor, battle_id: int, votes: Iterable[SetAsideVote]) -> None:
    """Keeps a closing vote's set-aside reactions, in the closing transaction."""
    await db.executemany(
        "INSERT INTO set_aside_ballots (battle_id, user_id, side, reason) VALUES (?, ?, ?, ?)",
        [
            (battle_id, vote.user_id, vote.side.value if vote.side else None, vote.reason.value)
            for vote in votes
        ],
    )


class AuditQueries(SQLDatabase):
    """Mixed into SQLStore: the vote audit's reads and the exclusions."""

    async def set_aside_votes(self, battle_id: int) -> list[SetAsideVote]:
        rows = await self._fetch(
            "SELECT user_id, side, reason FROM set_aside_ballots WHERE battle_id = ?"
            " ORDER BY user_id",
            (battle_id,),
        )
        return [
            SetAsideVote(user, Side(side) if side else None, SetAsideReason(reason))
            for user, side, reason in rows
        ]

    async def vote_picks(self, guild_id: int, user_id: int | None = None) -> list[VotePick]:
        member, values = ("", ()) if user_id is None else (" AND v.user_id = ?", (user_id,))
        closed = BattleState.CLOSED.value
        rows = await self._fetch(
            "SELECT t.id, v.user_id, v.side, NULL, t.votes_a, t.votes_b, t.model_a, t.model_b"
            " FROM ballots v JOIN battles t ON t.id = v.battle_id"
            f" WHERE t.guild_id = ? AND t.state = ?{member}"
            " UNION ALL"
            " SELECT t.id, v.user_id, v.side, v.reason, t.votes_a, t.votes_b, t.model_a, t.model_b"
            " FROM set_aside_ballots v JOIN battles t ON t.id = v.battle_id"
            f" WHERE t.guild_id = ? AND t.state = ?{member}"
            " ORDER BY 1 DESC, 2",
            (guild_id, closed, *values, guild_id, closed, *values),
        )
        return [_pick(row) for row in rows]

    async def excluded_voters(self, guild_id: int) -> frozenset[int]:
        rows = await self._fetch(
            "SELECT user_id FROM voter_exclusions WHERE guild_id = ?", (guild_id,)
        )
        return frozenset(row[0] for row in rows)

    async def votes_counted_since(
        self, guild_id: int, user_ids: Collection[int], since: float
    ) -> dict[int, int]:
        users, counts = sorted(set(user_ids)), {}
        for start in range(0, len(users), _USERS_PER_QUERY):
            chunk = users[start : start + _USERS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._fetch(
                "SELECT v.user_id, COUNT(*) FROM ballots v JOIN battles t ON t.id = v.battle_id"
                f" WHERE t.guild_id = ? AND t.closed_at >= ? AND v.user_id IN ({marks})"
                " GROUP BY v.user_id",
                (guild_id, since, *chunk),
            )
            counts.update({user: int(count) for user, count in rows})
        return counts

    async def set_voter_excluded(
        self, guild_id: int, user_id: int, excluded: bool, changed_by: int, now: float
    ) -> VoterChange | None:
        async with self._change() as db:
            # The state's own row decides, atomically: of two admins doing the same, one changes.
            if excluded:
                changed = await db.execute(
                    "INSERT INTO voter_exclusions (guild_id, user_id) VALUES (?, ?)"
                    " ON CONFLICT (guild_id, user_id) DO NOTHING",
                    (guild_id, user_id),
                )
            else:
                changed = await db.execute(
                    "DELETE FROM voter_exclusions WHERE guild_id = ? AND user_id = ?",
                    (guild_id, user_id),
                )
            if changed != 1:
                return None
            moved = await _move_votes(db, guild_id, user_id, excluded)
            rows = await db.fetch(
                "SELECT COALESCE(MAX(position), 0) + 1 FROM voter_changes"
                " WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            change = VoterChange(guild_id, user_id, excluded, changed_by, now, moved)
            await db.execute(
                f"INSERT INTO voter_changes ({', '.join(_CHANGE_NAMES)})"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    user_id,
                    rows[0][0],
                    _EXCLUDE if excluded else _INCLUDE,
                    changed_by,
                    now,
                    moved,
                ),
            )
        return change

    async def voter_changes(self, guild_id: int, user_id: int | None = None) -> list[VoterChange]:
        member, values = ("", ()) if user_id is None else (" AND user_id = ?", (user_id,))
        rows = await self._fetch(
            "SELECT guild_id, user_id, action, changed_by, changed_at, votes_moved"
            f" FROM voter_changes WHERE guild_id = ?{member} ORDER BY changed_at, position",
            (guild_id, *values),
        )
        return [
            VoterChange(guild, user, action == _EXCLUDE, by, at, moved)
            for guild, user, action, by, at, moved in rows
        ]


async def _move_votes(db: Executor, guild_id: int, user_id: int, exclude: bool) -> int:
    """Sets a member's counted votes on the server's closed battles aside (or counts again
    those their exclusion set aside); the battles' counts and the board follow. Returns how
    many votes moved."""
    closed = BattleState.CLOSED.value
    if exclude:
        found = await db.fetch(
            "SELECT t.id, v.side FROM ballots v JOIN battles t ON t.id = v.battle_id"
            " WHERE t.guild_id = ? AND v.user_id = ? AND t.state = ? ORDER BY t.id",
            (guild_id, user_id, closed),
        )
    else:
        found = await db.fetch(
            "SELECT t.id, v.side FROM set_aside_ballots v JOIN battles t ON t.id = v.battle_id"
            " WHERE t.guild_id = ? AND v.user_id = ? AND t.state = ? AND v.reason = ?"
            " ORDER BY t.id",
            (guild_id, user_id, closed, SetAsideReason.EXCLUDED.value),
        )
    delta, step = BoardDelta(), -1 if exclude else 1
    for battle_id, side in found:
        if exclude:
            await db.execute(
                "DELETE FROM ballots WHERE battle_id = ? AND user_id = ?", (battle_id, user_id)
            )
            await keep_set_aside(
                db, battle_id, [SetAsideVote(user_id, Side(side), SetAsideReason.EXCLUDED)]
            )
        else:
            await db.execute(
                "DELETE FROM set_aside_ballots WHERE battle_id = ? AND user_id = ?",
                (battle_id, user_id),
            )
            await db.execute(
                "INSERT INTO ballots (battle_id, user_id, side) VALUES (?, ?, ?)",
                (battle_id, user_id, side),
            )
        on_a = int(side == Side.A.value)
        rows = await db.fetch(
            "UPDATE battles SET votes_a = votes_a + ?, votes_b = votes_b + ?,"
            " votes_set_aside = COALESCE(votes_set_aside, 0) - ? WHERE id = ?"
            " RETURNING model_a, model_b, votes_a, votes_b, unrated_reason",
            (step * on_a, step * (1 - on_a), step, battle_id),
        )
        model_a, model_b, votes_a, votes_b, unrated_reason = rows[0]
        if unrated_reason is None:  # an unrated battle never fed the board
            was_a, was_b = votes_a - step * on_a, votes_b - step * (1 - on_a)
            delta.add(guild_id, model_a, model_b, was_a, was_b, -1)
            delta.add(guild_id, model_a, model_b, votes_a, votes_b, +1)
    if delta:
        await _apply(db, delta)
        await bump_rating_version(db, guild_id)
    return len(found)


async def _apply(db: Executor, delta: BoardDelta) -> None:
    """Adds a delta to the crowd board's rows in key order; rows left with no battle go."""
    pairs, models = CROWD_TABLES.pairs, CROWD_TABLES.models
    for (guild_id, first, second), (battles, score, score_sq) in sorted(delta.pairs.items()):
        key: tuple[Any, ...] = (guild_id, first, second)
        await db.execute(
            f"INSERT INTO {pairs} (guild_id, model_a, model_b, battles, score_a, score_sq)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, model_a, model_b) DO UPDATE SET"
            f" battles = {pairs}.battles + excluded.battles,"
            f" score_a = {pairs}.score_a + excluded.score_a,"
            f" score_sq = {pairs}.score_sq + excluded.score_sq",
            (*key, battles, score, score_sq),
        )
        await db.execute(
            f"DELETE FROM {pairs} WHERE guild_id = ? AND model_a = ? AND model_b = ?"
            " AND battles < 0.5",
            key,
        )
    for (guild_id, model), (wins, losses, draws, battles, votes) in sorted(delta.models.items()):
        await db.execute(
            f"INSERT INTO {models} (guild_id, model, wins, losses, draws, battles, votes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, model) DO UPDATE SET"
            f" wins = {models}.wins + excluded.wins,"
            f" losses = {models}.losses + excluded.losses,"
            f" draws = {models}.draws + excluded.draws,"
            f" battles = {models}.battles + excluded.battles,"
            f" votes = {models}.votes + excluded.votes",
            (guild_id, model, wins, losses, draws, battles, votes),
        )
        await db.execute(
            f"DELETE FROM {models} WHERE guild_id = ? AND model = ? AND battles <= 0",
            (guild_id, model),
        )


def _pick(row: Row) -> VotePick:
    battle_id, user_id, side, reason, votes_a, votes_b, model_a, model_b = row
    return VotePick(
        battle_id,
        user_id,
        Side(side) if side else None,
        SetAsideReason(reason) if reason else None,
        votes_a or 0,
        votes_b or 0,
        model_a,
        model_b,
    )
