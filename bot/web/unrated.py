"""Why a public battle is not rated, in one line that names no one.

A battle's stored reason is written for its own channel and may name a member (``stopped by
Alice``), so only reasons that name models alone are shown as stored: a blind battle whose verse
named its model, a verse withheld by the content filter, and a model's own failure. Any other
ending gets its kind in general words.
"""

from __future__ import annotations

from bot.engine.content_filter import is_withheld_reason
from bot.engine.lifecycle import BattleState
from bot.store import WebBattle

_ENDINGS = {
    BattleState.NO_CONTEST: "no contest, the battle could not be finished",
    BattleState.STOPPED: "the battle was stopped before the vote",
    BattleState.INTERRUPTED: "the battle was cut off by a restart of the bot",
}


def unrated_line(battle: WebBattle) -> str | None:
    """The line "Not rated: …" for a battle whose result moved no rating; None for a rated one."""
    reason = _why(battle)
    return None if reason is None else f"Not rated: {reason.rstrip('.')}."


def _why(battle: WebBattle) -> str | None:
    if battle.state is BattleState.CLOSED:
        if battle.unrated_reason is not None:
            return battle.unrated_reason
        if battle.votes_a is not None and (battle.votes_a or 0) + (battle.votes_b or 0) == 0:
            return "nobody voted"
        if battle.model_a == battle.model_b:
            return "a model against itself is not rated"
        return None
    stored = battle.reason or ""
    if is_withheld_reason(stored):  # names a model (or MC A/B) and a category, no member
        return stored
    if battle.state is BattleState.NO_CONTEST and _a_models_own(stored, battle):
        return f"no contest, {stored}"
    return _ENDINGS.get(battle.state, "the battle ended without a vote")


def _a_models_own(reason: str, battle: WebBattle) -> bool:
    """A model's failure, as the model gateway words it: "vendor/model: what went wrong"."""
    return any(reason.startswith(f"{model}: ") for model in (battle.model_a, battle.model_b))
