"""Lines for /battle-history, from stored battles."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.battle import Side
from bot.engine.splitting import escape_markdown
from bot.store import BattleState, StoredBattle

OUTCOME_LABELS = {
    BattleState.RUNNING: "🎤 in progress",
    BattleState.VOTING: "🗳️ voting",
    BattleState.NO_CONTEST: "⚠️ no contest",
    BattleState.STOPPED: "⏹️ stopped",
    BattleState.INTERRUPTED: "⏹️ interrupted",
}
# After the line of a battle a schedule started (/battle-schedule), not a person.
SCHEDULED_MARK = "⏰ scheduled"


def history_lines(battles: Sequence[StoredBattle]) -> str:
    if not battles:
        return "No battles here yet. Start one with `/battle`!"
    return "\n".join(_line(stored) for stored in battles)


def _line(stored: StoredBattle) -> str:
    battle = stored.battle
    hidden = battle.blind and not stored.state.is_final
    a, b = (escape_markdown(battle.stage_name(s) if hidden else battle.model(s)) for s in Side)
    line = f"`#{stored.id}` {a} v {b} · {_outcome(stored)} · <t:{int(stored.created_at)}:R>"
    return f"{line} · {SCHEDULED_MARK}" if stored.scheduled else line


def _outcome(stored: StoredBattle) -> str:
    if stored.state is not BattleState.CLOSED:
        return OUTCOME_LABELS[stored.state]
    a, b = stored.votes_a or 0, stored.votes_b or 0
    if a + b == 0:
        return "no votes"
    if a == b:
        return f"🤝 draw {a}–{b}"
    winner = stored.battle.model_a if a > b else stored.battle.model_b
    return f"🏆 {escape_markdown(winner)} {max(a, b)}–{min(a, b)}"
