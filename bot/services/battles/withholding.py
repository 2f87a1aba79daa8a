"""A battle that ends at a withheld verse, as the store keeps it: a no contest whose reason is
the withheld line, and the verse itself kept for the server's admins only."""

from __future__ import annotations

from bot.engine.spend import TokenUsage
from bot.services.battles.referee import WithheldVerse
from bot.store import Store, StoredBattle, StoredWithheldVerse

# After the withheld line (posted in the verse's place), how the battle ended.
WITHHELD_NOTICE = "⚠️ No contest, nothing is rated."


async def keep_withheld(
    store: Store, stored: StoredBattle, verse: WithheldVerse, usage: TokenUsage | None, now: float
) -> bool:
    """Ends the running battle as a no contest, keeping ``verse`` (with ``usage``, what it
    cost); False if it had already ended (then nothing is kept)."""
    kept = StoredWithheldVerse(
        stored.id,
        verse.side,
        stored.battle.model(verse.side),
        verse.round,
        verse.category,
        verse.text,
        now,
        usage,
    )
    return await store.withhold_verse(kept, verse.reason)
