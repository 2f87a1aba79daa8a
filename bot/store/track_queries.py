"""Battle tracks in the store's shared SQL: each battle's audio track, kept once it is made.

SQLStore inherits these, so they run on SQLite (a BLOB) and PostgreSQL (a BYTEA) alike with ``?``
placeholders; tests/fakes/memory_store.py keeps the same contract in memory.
"""

from __future__ import annotations

from bot.store.base import KeptTrack
from bot.store.executor import SQLDatabase

# For copying a whole store (copy_queries.py's COPIED_TABLES): columns and ordering key.
TRACK_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "battle_tracks": (("battle_id", "ogg", "seconds", "created_at"), "battle_id"),
}


class TrackQueries(SQLDatabase):
    """Mixed into SQLStore: each battle's kept track."""

    async def track(self, battle_id: int) -> KeptTrack | None:
        rows = await self._fetch(
            "SELECT ogg, seconds FROM battle_tracks WHERE battle_id = ?", (battle_id,)
        )
        if not rows:
            return None
        ogg, seconds = rows[0]
        return KeptTrack(bytes(ogg), float(seconds))

    async def keep_track(self, battle_id: int, ogg: bytes, seconds: float, now: float) -> None:
        async with self._change() as db:
            await db.execute(
                "INSERT INTO battle_tracks (battle_id, ogg, seconds, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (battle_id) DO NOTHING",
                (battle_id, bytes(ogg), seconds, now),
            )
