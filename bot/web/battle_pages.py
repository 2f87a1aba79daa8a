"""A public battle's page, its transcript as Markdown and its judges' verdict as YAML; and how a
battle ended, in the words every list of battles uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.engine.battle import SYSTEM_SPEAKER, Battle, Side
from bot.engine.transcript import transcript_of
from bot.store import BattleState, WebBattle
from bot.web import params
from bot.web.data import ArenaData, battle_verdict
from bot.web.responses import download, html_page

_STATE_NAMES = {
    BattleState.CLOSED: "Vote closed",
    BattleState.NO_CONTEST: "No contest",
    BattleState.STOPPED: "Stopped",
    BattleState.INTERRUPTED: "Interrupted",
}


class BattlePages:
    """``/battles/{id}`` and its ``.md`` and ``.yml`` downloads."""

    def __init__(self, data: ArenaData, render: Callable[..., str]) -> None:
        self.data = data
        self.render = render

    async def battle_page(self, request: web.Request) -> web.Response:
        battle = await self._public_battle(request)
        turns = (await self.data.store.turns_of([battle.id]))[battle.id]
        verdict = await battle_verdict(self.data.store, battle.id)
        summary = battle_summary(battle)
        speakers = {
            battle.model_a: _stage_names(battle, Side.A),
            battle.model_b: _stage_names(battle, Side.B),
        }
        return html_page(
            self.render(
                "battle.html",
                title=f"Battle {battle.id}: {battle.model_a} v {battle.model_b}",
                battle=battle,
                summary=summary,
                turns=[
                    {
                        "announcement": turn.speaker == SYSTEM_SPEAKER,
                        "speaker": turn.speaker,
                        "stage_name": speakers.get(turn.speaker, turn.speaker),
                        "side": turn.side.value if turn.side else None,
                        "text": turn.text,
                    }
                    for turn in turns
                ],
                verdict=verdict,
            )
        )

    async def battle_markdown(self, request: web.Request) -> web.Response:
        battle = await self._public_battle(request)
        turns = (await self.data.store.turns_of([battle.id]))[battle.id]
        text = transcript_of(
            Battle(battle.model_a, battle.model_b, battle.rounds, battle.topic, battle.blind),
            turns,
        )
        return download(text, f"battle-{battle.id}.md", "text/markdown")

    async def battle_verdict_file(self, request: web.Request) -> web.Response:
        battle = await self._public_battle(request)
        verdict = await battle_verdict(self.data.store, battle.id)
        if verdict is None:
            raise web.HTTPNotFound(text=f"Battle {battle.id} has no judges' verdict.")
        return download(verdict.yaml, f"battle-{battle.id}.yml", "application/yaml")

    async def _public_battle(self, request: web.Request) -> WebBattle:
        battle_id = params.identifier(request.match_info["battle_id"])
        battle = None if battle_id is None else await self.data.store.public_battle(battle_id)
        if battle is None:
            # The same answer for a private server's battle as for none: nothing is revealed.
            raise web.HTTPNotFound(text="No public battle has that number.")
        return battle


def battle_summary(battle: WebBattle) -> dict[str, Any]:
    """How a battle ended, in words that name no one."""
    winner = None
    if battle.state is BattleState.CLOSED:
        a, b = battle.votes(Side.A), battle.votes(Side.B)
        if a + b == 0:
            outcome = "No votes"
        elif a == b:
            outcome = "Draw"
        else:
            winner = battle.model_a if a > b else battle.model_b
            outcome = f"{winner} won"
    else:
        outcome = _STATE_NAMES.get(battle.state, battle.state.value)
    return {
        "battle": battle,
        "state": _STATE_NAMES.get(battle.state, battle.state.value),
        "outcome": outcome,
        "winner": winner,
        "date": battle.closed_at or battle.created_at,
    }


def _stage_names(battle: WebBattle, side: Side) -> str | None:
    """The blind name a side battled under (revealed now the vote has closed), if any."""
    if not battle.blind:
        return None
    return Battle(battle.model_a, battle.model_b, blind=True).stage_name(side)
