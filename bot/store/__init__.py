"""Storage behind one narrow interface: SQLite by default, or PostgreSQL."""

from bot.store.base import (
    BattleState,
    IntegrityError,
    ModelRecord,
    NewBattle,
    Store,
    StoredBattle,
)
from bot.store.opening import open_store
from bot.store.web_reads import HeadToHead, Snapshot, WebBattle, WebReads, WebStore

__all__ = [
    "BattleState",
    "HeadToHead",
    "IntegrityError",
    "ModelRecord",
    "NewBattle",
    "Snapshot",
    "Store",
    "StoredBattle",
    "WebBattle",
    "WebReads",
    "WebStore",
    "open_store",
]
