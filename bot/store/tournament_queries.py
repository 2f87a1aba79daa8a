"""Tournaments (tournaments.py) in the store's shared SQL: one row per tournament, its seeds,
its rounds and their matches.

SQLStore inherits these, so they run on SQLite and PostgreSQL alike with ``?`` placeholders.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from bot.engine.tournament import Pairing, TournamentFormat
from bot.store.executor import Row, SQLDatabase
from bot.store.tournaments import (
    NewTournament,
    StoredMatch,
    StoredRound,
    StoredTournament,
    TournamentState,
)

_TOURNAMENT_NAMES = (
    "id",
    "guild_id",
    "channel_id",
    "starter_id",
    "tournament_format",
    "battle_rounds",
    "judges",
    "threaded",
    "state",
    "created_at",
    "reason",
    "announcement_message_id",
    "thread_id",
    "bracket_message_id",
    "champion",
    "champion_announced",
)
_TOURNAMENT_COLUMNS = ", ".join(_TOURNAMENT_NAMES)
# For copying a whole store (copy_queries.py's COPIED_TABLES): parents first, each with its key.
TOURNAMENT_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "tournaments": (_TOURNAMENT_NAMES, "id"),
    "tournament_seeds": (("tournament_id", "seed", "model"), "tournament_id, seed"),
    "tournament_rounds": (("tournament_id", "round_number", "bye"), "tournament_id, round_number"),
    "tournament_matches": (
        (
            "tournament_id",
            "round_number",
            "match_index",
            "model_a",
            "model_b",
            "battle_id",
            "winner",
            "votes_a",
            "votes_b",
            "note",
        ),
        "tournament_id, round_number, match_index",
    ),
}
TOURNAMENT_BOOLEANS = ("judges", "threaded", "champion_announced")


class TournamentQueries(SQLDatabase):
    """Mixed into SQLStore: a tournament's state, one transaction per change."""

    async def create_tournament(self, new: NewTournament, now: float) -> StoredTournament:
        async with self._change() as db:
            rows = await db.fetch(
                "INSERT INTO tournaments (guild_id, channel_id, starter_id, tournament_format,"
                " battle_rounds, judges, threaded, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    new.guild_id,
                    new.channel_id,
                    new.starter_id,
                    new.tournament_format.value,
                    new.battle_rounds,
                    new.judges,
                    new.threaded,
                    TournamentState.RUNNING.value,
                    now,
                ),
            )
            tournament_id = rows[0][0]
            await db.executemany(
                "INSERT INTO tournament_seeds (tournament_id, seed, model) VALUES (?, ?, ?)",
                [(tournament_id, seed, model) for seed, model in enumerate(new.seeds)],
            )
        stored = await self.tournament(tournament_id)
        assert stored is not None
        return stored

    async def tournament(self, tournament_id: int) -> StoredTournament | None:
        found = await self._tournaments("WHERE id = ?", (tournament_id,))
        return found[0] if found else None

    async def tournaments_in(
        self, states: Collection[TournamentState], guild_id: int | None = None
    ) -> list[StoredTournament]:
        """Tournaments in these states, oldest first; on one server, or on every one (None)."""
        if not states:
            return []
        marks = ", ".join("?" for _ in states)
        where = f"WHERE state IN ({marks})"
        values: tuple[Any, ...] = tuple(state.value for state in states)
        if guild_id is not None:
            where += " AND guild_id = ?"
            values += (guild_id,)
        return await self._tournaments(where + " ORDER BY id", values)

    async def unannounced_champions(self) -> list[StoredTournament]:
        """Finished tournaments whose champion was never announced (a restart in between)."""
        return await self._tournaments(
            "WHERE state = ? AND champion_announced = FALSE ORDER BY id",
            (TournamentState.FINISHED.value,),
        )

    async def public_tournament(self, tournament_id: int) -> StoredTournament | None:
        """A tournament of a server that made its page public; None for any other."""
        rows = await self._fetch(
            "SELECT t.id FROM tournaments t JOIN server_settings s ON s.guild_id = t.guild_id"
            " WHERE t.id = ? AND s.public_page = TRUE",
            (tournament_id,),
        )
        return await self.tournament(tournament_id) if rows else None

    async def set_tournament_announcement(self, tournament_id: int, message_id: int) -> None:
        await self._set_column(tournament_id, "announcement_message_id = ?", message_id)

    async def set_tournament_thread(self, tournament_id: int, thread_id: int) -> None:
        await self._set_column(tournament_id, "thread_id = ?", thread_id)

    async def set_bracket_message(self, tournament_id: int, message_id: int) -> None:
        await self._set_column(tournament_id, "bracket_message_id = ?", message_id)

    async def set_champion_announced(self, tournament_id: int) -> None:
        await self._set_column(tournament_id, "champion_announced = ?", True)

    async def _set_column(self, tournament_id: int, assignment: str, value: object) -> None:
        async with self._change() as db:
            await db.execute(
                f"UPDATE tournaments SET {assignment} WHERE id = ?", (value, tournament_id)
            )

    async def plan_round(
        self, tournament_id: int, number: int, bye: str | None, pairings: Sequence[Pairing]
    ) -> bool:
        """Stores a round's pairings, once: False if that round was already planned."""
        async with self._change() as db:
            changed = await db.execute(
                "INSERT INTO tournament_rounds (tournament_id, round_number, bye)"
                " VALUES (?, ?, ?) ON CONFLICT (tournament_id, round_number) DO NOTHING",
                (tournament_id, number, bye),
            )
            if changed != 1:
                return False
            await db.executemany(
                "INSERT INTO tournament_matches"
                " (tournament_id, round_number, match_index, model_a, model_b)"
                " VALUES (?, ?, ?, ?, ?)",
                [(tournament_id, number, p.index, p.side_a, p.side_b) for p in pairings],
            )
        return True

    async def set_match_battle(
        self, tournament_id: int, round_number: int, index: int, battle_id: int
    ) -> None:
        """The match is (being) played as this battle; a replay replaces an interrupted one."""
        async with self._change() as db:
            await db.execute(
                "UPDATE tournament_matches SET battle_id = ?"
                " WHERE tournament_id = ? AND round_number = ? AND match_index = ?"
                " AND winner IS NULL",
                (battle_id, tournament_id, round_number, index),
            )

    async def decide_match(
        self,
        tournament_id: int,
        round_number: int,
        index: int,
        winner: str,
        votes: tuple[int, int] | None = None,
        note: str | None = None,
    ) -> bool:
        """Records who advances, once: False if the match was already decided."""
        votes_a, votes_b = votes if votes is not None else (None, None)
        match = (tournament_id, round_number, index)
        async with self._change() as db:
            changed = await db.execute(
                "UPDATE tournament_matches SET winner = ?, votes_a = ?, votes_b = ?, note = ?"
                " WHERE tournament_id = ? AND round_number = ? AND match_index = ?"
                " AND winner IS NULL AND (model_a = ? OR model_b = ?)",
                (winner, votes_a, votes_b, note, *match, winner, winner),
            )
        return changed == 1

    async def finish_tournament(self, tournament_id: int, champion: str) -> bool:
        """A running tournament crowns its champion; False if it was not running."""
        return await self._end(tournament_id, TournamentState.FINISHED, "champion = ?", champion)

    async def stop_tournament(self, tournament_id: int, reason: str) -> bool:
        """A running tournament ends early; False if it was not running."""
        return await self._end(tournament_id, TournamentState.STOPPED, "reason = ?", reason)

    async def _end(
        self, tournament_id: int, state: TournamentState, assignment: str, value: object
    ) -> bool:
        async with self._change() as db:
            changed = await db.execute(
                f"UPDATE tournaments SET state = ?, {assignment} WHERE id = ? AND state = ?",
                (state.value, value, tournament_id, TournamentState.RUNNING.value),
            )
        return changed == 1

    async def _tournaments(self, where: str, values: tuple[Any, ...]) -> list[StoredTournament]:
        rows = await self._fetch(f"SELECT {_TOURNAMENT_COLUMNS} FROM tournaments {where}", values)
        if not rows:
            return []
        ids = [row[0] for row in rows]
        marks = ", ".join("?" for _ in ids)
        seeds: dict[int, list[str]] = {}
        for tournament_id, model in await self._fetch(
            "SELECT tournament_id, model FROM tournament_seeds"
            f" WHERE tournament_id IN ({marks}) ORDER BY tournament_id, seed",
            ids,
        ):
            seeds.setdefault(tournament_id, []).append(model)
        byes: dict[int, dict[int, str | None]] = {}
        for tournament_id, number, bye in await self._fetch(
            "SELECT tournament_id, round_number, bye FROM tournament_rounds"
            f" WHERE tournament_id IN ({marks}) ORDER BY tournament_id, round_number",
            ids,
        ):
            byes.setdefault(tournament_id, {})[number] = bye
        matches: dict[tuple[int, int], list[StoredMatch]] = {}
        for row in await self._fetch(
            "SELECT tournament_id, round_number, match_index, model_a, model_b, battle_id,"
            " winner, votes_a, votes_b, note FROM tournament_matches"
            f" WHERE tournament_id IN ({marks})"
            " ORDER BY tournament_id, round_number, match_index",
            ids,
        ):
            matches.setdefault((row[0], row[1]), []).append(StoredMatch(*row[1:]))
        return [
            _stored_tournament(
                row,
                tuple(seeds.get(row[0], ())),
                tuple(
                    StoredRound(number, bye, tuple(matches.get((row[0], number), ())))
                    for number, bye in byes.get(row[0], {}).items()
                ),
            )
            for row in rows
        ]


def _stored_tournament(
    row: Row, seeds: tuple[str, ...], rounds: tuple[StoredRound, ...]
) -> StoredTournament:
    (
        tournament_id,
        guild_id,
        channel_id,
        starter_id,
        tournament_format,
        battle_rounds,
        judges,
        threaded,
        state,
        created_at,
        reason,
        announcement_message_id,
        thread_id,
        bracket_message_id,
        champion,
        champion_announced,
    ) = row
    return StoredTournament(
        id=tournament_id,
        guild_id=guild_id,
        channel_id=channel_id,
        starter_id=starter_id,
        tournament_format=TournamentFormat(tournament_format),
        seeds=seeds,
        battle_rounds=battle_rounds,
        judges=None if judges is None else bool(judges),
        threaded=bool(threaded),
        state=TournamentState(state),
        created_at=created_at,
        reason=reason,
        announcement_message_id=announcement_message_id,
        thread_id=thread_id,
        bracket_message_id=bracket_message_id,
        champion=champion,
        champion_announced=bool(champion_announced),
        rounds=rounds,
    )
