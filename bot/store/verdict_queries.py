"""The judges' verdicts in the store's shared SQL: which battles are judged, each judge's ballot,
where each verdict stands (verdicts.py), and the judges' board's aggregates.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders;
tests/fakes/memory_store.py keeps the same contract in memory.
"""

from __future__ import annotations

from bot.engine.battle import Side
from bot.engine.judge_stats import JudgeBallotRow
from bot.engine.verdicts import Ballot, Verdict
from bot.store.aggregates import (
    JUDGES_TABLES,
    RatedOutcome,
    add_outcome,
    copied_tables,
    on_board,
)
from bot.store.executor import Executor, SQLDatabase
from bot.store.verdicts import VerdictState, VerdictStatus, judges_score_a

# For copying a whole store (copy_queries.py's COPIED_TABLES): columns and ordering keys.
VERDICT_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "verdicts": (("battle_id", "state", "message_id", "reason"), "battle_id"),
    "judge_ballots": (
        (
            "battle_id",
            "position",
            "judge",
            "side",
            "statement",
            "abstained",
            "same_vendor",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
        ),
        "battle_id, position",
    ),
    **copied_tables(JUDGES_TABLES),
}
VERDICT_BOOLEAN_COLUMNS = frozenset({"same_vendor"})
_WITH_BALLOTS = ", ".join(f"'{state.value}'" for state in VerdictState if state.has_ballots)


class VerdictQueries(SQLDatabase):
    """Mixed into SQLStore: the judges' part of the store."""

    async def mark_judged(self, battle_id: int) -> None:
        async with self._change() as db:
            await db.execute(
                "INSERT INTO verdicts (battle_id, state) VALUES (?, ?)"
                " ON CONFLICT (battle_id) DO NOTHING",
                (battle_id, VerdictState.PENDING.value),
            )

    async def verdict_status(self, battle_id: int) -> VerdictStatus | None:
        rows = await self._fetch(
            "SELECT state, message_id, reason FROM verdicts WHERE battle_id = ?", (battle_id,)
        )
        if not rows:
            return None
        state, message_id, reason = rows[0]
        return VerdictStatus(VerdictState(state), message_id, reason)

    async def store_verdict(self, battle_id: int, verdict: Verdict) -> bool:
        async with self._change() as db:
            changed = await db.execute(
                "UPDATE verdicts SET state = ? WHERE battle_id = ? AND state = ?"
                " AND EXISTS (SELECT 1 FROM battles WHERE id = ? AND state = 'closed')",
                (VerdictState.STORED.value, battle_id, VerdictState.PENDING.value, battle_id),
            )
            if changed != 1:
                return False
            await db.executemany(
                "INSERT INTO judge_ballots (battle_id, position, judge, side, statement,"
                " abstained, same_vendor, prompt_tokens, completion_tokens, cost_usd)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        battle_id,
                        position,
                        ballot.judge,
                        ballot.pick.value if ballot.pick else None,
                        ballot.statement,
                        ballot.abstained,
                        ballot.same_vendor,
                        ballot.prompt_tokens,
                        ballot.completion_tokens,
                        ballot.cost_usd,
                    )
                    for position, ballot in enumerate(verdict.ballots)
                ],
            )
            await _add_to_judges_aggregates(db, battle_id, verdict)
        return True

    async def stored_verdict(self, battle_id: int) -> Verdict | None:
        rows = await self._fetch(
            "SELECT b.model_a, b.model_b FROM verdicts v JOIN battles b ON b.id = v.battle_id"
            f" WHERE v.battle_id = ? AND v.state IN ({_WITH_BALLOTS})",
            (battle_id,),
        )
        if not rows:
            return None
        model_a, model_b = rows[0]
        ballots = await self._fetch(
            "SELECT judge, side, statement, abstained, same_vendor, prompt_tokens,"
            " completion_tokens, cost_usd FROM judge_ballots WHERE battle_id = ?"
            " ORDER BY position",
            (battle_id,),
        )
        return Verdict(model_a, model_b, tuple(ballot_from_row(*row) for row in ballots))

    async def set_verdict_message(self, battle_id: int, message_id: int) -> bool:
        return await self._verdict_move(
            battle_id, VerdictState.STORED, VerdictState.POSTED, "message_id = ?", message_id
        )

    async def verdict_undeliverable(self, battle_id: int, reason: str) -> bool:
        return await self._verdict_move(
            battle_id, VerdictState.STORED, VerdictState.UNDELIVERABLE, "reason = ?", reason
        )

    async def verdict_failed(self, battle_id: int, reason: str) -> bool:
        return await self._verdict_move(
            battle_id, VerdictState.PENDING, VerdictState.FAILED, "reason = ?", reason
        )

    async def _verdict_move(
        self,
        battle_id: int,
        from_state: VerdictState,
        to_state: VerdictState,
        assignment: str,
        value: object,
    ) -> bool:
        async with self._change() as db:
            changed = await db.execute(
                f"UPDATE verdicts SET state = ?, {assignment} WHERE battle_id = ? AND state = ?",
                (to_state.value, value, battle_id, from_state.value),
            )
            return changed == 1

    async def unfinished_verdicts(self) -> list[tuple[int, VerdictState]]:
        rows = await self._fetch(
            "SELECT v.battle_id, v.state FROM verdicts v JOIN battles b ON b.id = v.battle_id"
            " WHERE v.state IN ('pending', 'stored') AND b.state IN ('voting', 'closed')"
            " ORDER BY v.battle_id"
        )
        return [(battle_id, VerdictState(state)) for battle_id, state in rows]

    async def judge_ballot_rows(self, guild_id: int | None) -> list[JudgeBallotRow]:
        where, values = on_board(guild_id, "b")
        rows = await self._fetch(
            "SELECT b.id, b.votes_a, b.votes_b, j.judge, j.side, j.prompt_tokens,"
            " j.completion_tokens FROM judge_ballots j"
            " JOIN verdicts v ON v.battle_id = j.battle_id"
            " JOIN battles b ON b.id = j.battle_id"
            " LEFT JOIN server_settings s ON s.guild_id = b.guild_id"
            f" WHERE v.state IN ({_WITH_BALLOTS}) AND b.state = 'closed' AND {where}"
            " ORDER BY b.id, j.position",
            values,
        )
        return [
            JudgeBallotRow(
                battle_id, votes_a or 0, votes_b or 0, judge, Side(side) if side else None, p, c
            )
            for battle_id, votes_a, votes_b, judge, side, p, c in rows
        ]


def ballot_from_row(
    judge: str,
    side: str | None,
    statement: str,
    abstained: str | None,
    same_vendor: object,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float | None,
) -> Ballot:
    return Ballot(
        judge,
        Side(side) if side else None,
        statement,
        abstained,
        bool(same_vendor),
        prompt_tokens,
        completion_tokens,
        cost_usd,
    )


async def _add_to_judges_aggregates(db: Executor, battle_id: int, verdict: Verdict) -> None:
    """As the crowd's aggregates (battle_queries.py), with a battle's score its share of the
    judges."""
    score_a = judges_score_a(verdict)
    rows = await db.fetch(
        "SELECT guild_id, model_a, model_b FROM battles WHERE id = ?", (battle_id,)
    )
    guild_id, model_a, model_b = rows[0]
    if score_a is None or model_a == model_b:
        return  # Every judge abstained, or a model against itself: kept, not rated.
    votes = {side: verdict.votes(side) for side in Side}
    outcome = RatedOutcome(guild_id, model_a, model_b, score_a, verdict.winner, votes)
    await add_outcome(db, JUDGES_TABLES, outcome)
