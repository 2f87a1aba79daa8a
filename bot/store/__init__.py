"""Storage behind one narrow interface; SQLite is the default backend."""

from bot.store.base import (
    BattleState,
    ModelRecord,
    NewBattle,
    Store,
    StoredBattle,
    open_store,
)

__all__ = ["BattleState", "ModelRecord", "NewBattle", "Store", "StoredBattle", "open_store"]
