"""The web arena's reads (and its one setting and snapshot cache), in the store's shared SQL.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders.
Every query that returns battles applies the one visibility rule, ``_VISIBLE``: a battle is shown
only if its server made its page public, it has ended, and, when blind, its vote has closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.engine.battle import Side, Turn
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, BattleState
from bot.engine.ratings import PairRecord, Rating
from bot.store.aggregates import ON_GLOBAL_BOARD, bump_rating_version
from bot.store.executor import Row, SQLDatabase
from bot.store.web_reads import HeadToHead, Snapshot, WebBattle

# Visible to anyone: a public server's battle that ended; a blind one only once its vote closed
# (before that the names are the secret). Needs the server's settings joined as ``s``.
_ENDED = ", ".join(f"'{state.value}'" for state in ENDED_WITHOUT_VOTE)
_VISIBLE = (
    f"s.public_page = TRUE AND (b.state = 'closed' OR (b.blind = FALSE AND b.state IN ({_ENDED})))"
)
# A closed battle with votes between two different models: what the ratings are fitted from.
_RATED = (
    "b.state = 'closed' AND b.votes_a + b.votes_b > 0 AND b.model_a <> b.model_b"
    " AND b.unrated_reason IS NULL"  # a blind battle whose verse named its model: not rated
)
_WEB_BATTLE_COLUMNS = (
    "b.id, b.guild_id, b.model_a, b.model_b, b.rounds, b.topic, b.blind, b.state, b.reason,"
    " b.created_at, b.closed_at, b.votes_a, b.votes_b, b.scheduled, b.unrated_reason"
)


class WebQueries(SQLDatabase):
    """Mixed into SQLStore: the queries the web pages and open data need (web_reads.py declares
    them), and nothing else."""

    async def set_public_page(self, guild_id: int, public: bool) -> None:
        """Whether a server's page, battles and board are public (the default is private)."""
        async with self._change() as db:
            await db.execute(
                "INSERT INTO server_settings (guild_id, public_page) VALUES (?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET public_page = excluded.public_page",
                (guild_id, public),
            )
            # Cached pages listing this server's battles must be redrawn at once.
            await bump_rating_version(db, guild_id)

    async def is_public_page(self, guild_id: int) -> bool:
        rows = await self._fetch(
            "SELECT public_page FROM server_settings WHERE guild_id = ?", (guild_id,)
        )
        return bool(rows and rows[0][0])

    async def public_battle(self, battle_id: int) -> WebBattle | None:
        rows = await self._fetch(
            f"SELECT {_WEB_BATTLE_COLUMNS} FROM battles b"
            f" JOIN server_settings s ON s.guild_id = b.guild_id WHERE b.id = ? AND {_VISIBLE}",
            (battle_id,),
        )
        return _web_battle(rows[0]) if rows else None

    async def public_closed_battles(self, after_id: int, limit: int) -> list[WebBattle]:
        """Closed battles of public servers with ids above ``after_id``, in id order."""
        rows = await self._fetch(
            f"SELECT {_WEB_BATTLE_COLUMNS} FROM battles b"
            " JOIN server_settings s ON s.guild_id = b.guild_id"
            f" WHERE b.id > ? AND b.state = 'closed' AND {_VISIBLE} ORDER BY b.id LIMIT ?",
            (after_id, limit),
        )
        return [_web_battle(row) for row in rows]

    async def public_closed_battles_of_model(self, model: str, limit: int) -> list[WebBattle]:
        """A model's latest visible battles that closed with a vote, newest first (two walks
        down the model indexes, merged)."""
        found: dict[int, WebBattle] = {}
        for column in ("model_a", "model_b"):
            rows = await self._fetch(
                f"SELECT {_WEB_BATTLE_COLUMNS} FROM battles b"
                " JOIN server_settings s ON s.guild_id = b.guild_id"
                f" WHERE b.{column} = ? AND b.state = 'closed' AND {_VISIBLE}"
                " ORDER BY b.closed_at DESC LIMIT ?",
                (model, limit),
            )
            found.update((row[0], _web_battle(row)) for row in rows)
        newest = sorted(found.values(), key=lambda battle: (-(battle.closed_at or 0), -battle.id))
        return newest[:limit]

    async def public_battles_of_server(self, guild_id: int, limit: int) -> list[WebBattle]:
        rows = await self._fetch(
            f"SELECT {_WEB_BATTLE_COLUMNS} FROM battles b"
            " JOIN server_settings s ON s.guild_id = b.guild_id"
            f" WHERE b.guild_id = ? AND {_VISIBLE} ORDER BY b.id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [_web_battle(row) for row in rows]

    async def turns_of(self, battle_ids: Iterable[int]) -> dict[int, list[Turn]]:
        ids = list(battle_ids)
        if not ids:
            return {}
        rows = await self._fetch(
            "SELECT battle_id, speaker, text, side, round FROM turns"
            f" WHERE battle_id IN ({', '.join('?' for _ in ids)}) ORDER BY battle_id, position",
            ids,
        )
        turns: dict[int, list[Turn]] = {battle_id: [] for battle_id in ids}
        for battle_id, speaker, text, side, round_number in rows:
            turns[battle_id].append(Turn(speaker, text, Side(side) if side else None, round_number))
        return turns

    async def head_to_head(self, model: str) -> list[HeadToHead]:
        """A model's crowd record against each opponent, over the servers on the global board."""
        records: dict[str, list[float]] = {}
        for mine, theirs in (("a", "b"), ("b", "a")):
            rows = await self._fetch(
                f"SELECT b.model_{theirs},"
                f" SUM(CASE WHEN b.votes_{mine} > b.votes_{theirs} THEN 1 ELSE 0 END),"
                f" SUM(CASE WHEN b.votes_{mine} < b.votes_{theirs} THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN b.votes_a = b.votes_b THEN 1 ELSE 0 END), COUNT(*),"
                f" SUM(CAST(b.votes_{mine} AS DOUBLE PRECISION) / (b.votes_a + b.votes_b))"
                " FROM battles b LEFT JOIN server_settings s ON s.guild_id = b.guild_id"
                f" WHERE b.model_{mine} = ? AND {_RATED} AND {ON_GLOBAL_BOARD}"
                f" GROUP BY b.model_{theirs}",
                (model,),
            )
            for opponent, *counts in rows:
                record = records.setdefault(opponent, [0, 0, 0, 0, 0.0])
                for i, count in enumerate(counts):
                    record[i] += float(count)
        return [
            HeadToHead(opponent, int(won), int(lost), int(drawn), int(n), score)
            for opponent, (won, lost, drawn, n, score) in sorted(records.items())
        ]

    async def last_battle_dates(self) -> dict[str, float]:
        """When each model's latest battle on the global board closed (one index probe each)."""
        latest = (
            "(SELECT b.closed_at FROM battles b LEFT JOIN server_settings s"
            " ON s.guild_id = b.guild_id WHERE b.{column} = m.model AND b.state = 'closed'"
            f" AND {ON_GLOBAL_BOARD} ORDER BY b.closed_at DESC LIMIT 1)"
        )
        rows = await self._fetch(
            f"SELECT m.model, {latest.format(column='model_a')}, {latest.format(column='model_b')}"
            " FROM (SELECT DISTINCT model FROM model_stats) m"
        )
        dates = {}
        for model, as_a, as_b in rows:
            known = [at for at in (as_a, as_b) if at is not None]
            if known:
                dates[model] = max(known)
        return dates

    # Rating snapshots: a cache of fitted global ratings, one row per board, model and day.

    async def rating_snapshots(self, board: str, model: str) -> list[Snapshot]:
        rows = await self._fetch(
            "SELECT day, rating, low, high FROM rating_snapshots"
            " WHERE board = ? AND model = ? ORDER BY day",
            (board, model),
        )
        return [Snapshot(*row) for row in rows]

    async def latest_snapshot_day(self, board: str) -> int | None:
        rows = await self._fetch("SELECT MAX(day) FROM rating_snapshots WHERE board = ?", (board,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    async def save_rating_snapshot(
        self, board: str, day: int, ratings: Mapping[str, Rating]
    ) -> None:
        async with self._change() as db:
            await db.executemany(
                "INSERT INTO rating_snapshots (board, model, day, rating, low, high, battles)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (board, model, day) DO UPDATE SET"
                " rating = excluded.rating, low = excluded.low, high = excluded.high,"
                " battles = excluded.battles",
                [
                    (board, model, day, r.rating, r.low, r.high, r.battles)
                    for model, r in ratings.items()
                ],
            )

    async def rated_span(self) -> tuple[float, float] | None:
        """When the first and the last rated battle on the global board closed."""
        rows = await self._fetch(
            "SELECT MIN(b.closed_at), MAX(b.closed_at) FROM battles b"
            " LEFT JOIN server_settings s ON s.guild_id = b.guild_id"
            f" WHERE {_RATED} AND {ON_GLOBAL_BOARD}"
        )
        first, last = rows[0] if rows else (None, None)
        return None if first is None else (float(first), float(last))

    async def battle_id_bounds(self) -> tuple[int, int]:
        rows = await self._fetch("SELECT MIN(id), MAX(id) FROM battles")
        first, last = rows[0] if rows else (None, None)
        return (0, 0) if first is None else (int(first), int(last))

    async def rated_pairs_between(
        self, closed_after: float, closed_until: float, id_after: int, id_until: int
    ) -> list[PairRecord]:
        """The global board's rated battles with ids in (id_after, id_until] that closed in
        (closed_after, closed_until], collapsed by pair: one short walk along the primary key,
        so that a long history is read in slices that leave the connection to others between
        them."""
        rows = await self._fetch(
            "SELECT b.model_a, b.model_b, COUNT(*),"
            " SUM(CAST(b.votes_a AS DOUBLE PRECISION) / (b.votes_a + b.votes_b))"
            " FROM battles b LEFT JOIN server_settings s ON s.guild_id = b.guild_id"
            f" WHERE b.id > ? AND b.id <= ? AND b.closed_at > ? AND b.closed_at <= ?"
            f" AND {_RATED} AND {ON_GLOBAL_BOARD} GROUP BY b.model_a, b.model_b",
            (id_after, id_until, closed_after, closed_until),
        )
        return [PairRecord(a, b, float(n), float(score)) for a, b, n, score in rows]


def _web_battle(row: Row) -> WebBattle:
    (
        battle_id,
        guild_id,
        model_a,
        model_b,
        rounds,
        topic,
        blind,
        state,
        reason,
        created_at,
        closed_at,
        votes_a,
        votes_b,
        scheduled,
        unrated_reason,
    ) = row
    return WebBattle(
        battle_id,
        guild_id,
        model_a,
        model_b,
        rounds,
        topic,
        bool(blind),
        BattleState(state),
        reason,
        created_at,
        closed_at,
        votes_a,
        votes_b,
        bool(scheduled),
        unrated_reason,
    )
