"""Storage behind one narrow interface; SQLite is the default backend."""

from bot.store.base import BattleState, NewBattle, Store, StoredBattle, open_store

__all__ = ["BattleState", "NewBattle", "Store", "StoredBattle", "open_store"]
