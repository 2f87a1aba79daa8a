"""Storage behind one narrow interface: SQLite by default, or PostgreSQL."""

from bot.store.base import (
    BattleState,
    IntegrityError,
    ModelRecord,
    NewBattle,
    Store,
    StoredBattle,
    open_store,
)

__all__ = [
    "BattleState",
    "IntegrityError",
    "ModelRecord",
    "NewBattle",
    "Store",
    "StoredBattle",
    "open_store",
]
