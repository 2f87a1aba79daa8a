"""Storage behind one narrow interface: SQLite by default, or PostgreSQL."""

from bot.store.base import (
    BattleState,
    IntegrityError,
    KeptTrack,
    ModelRecord,
    NewBattle,
    Store,
    StoredBattle,
    StoredWithheldVerse,
)
from bot.store.opening import open_store
from bot.store.web_reads import HeadToHead, Snapshot, WebBattle, WebReads, WebStore

__all__ = [
    "BattleState",
    "HeadToHead",
    "IntegrityError",
    "KeptTrack",
    "ModelRecord",
    "NewBattle",
    "Snapshot",
    "Store",
    "StoredBattle",
    "StoredWithheldVerse",
    "WebBattle",
    "WebReads",
    "WebStore",
    "open_store",
]
