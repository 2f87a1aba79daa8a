"""A public battle's page, its transcript as Markdown, its judges' verdict as YAML and its audio
track as Ogg; and how a battle ended, in the words every list of battles uses.

A battle's track is made on its first request (by the track desk, which makes each battle's
track once however many ask for it at the same time) and kept in the store, which serves it
after.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from bot.engine.battle import SYSTEM_SPEAKER, Battle, Side, Turn
from bot.engine.transcript import transcript_of
from bot.services.tracks.desk import TrackDesk, track_filename
from bot.services.tracks.speech import TrackError
from bot.store import BattleState, WebBattle
from bot.web import params
from bot.web.data import ArenaData, battle_verdict
from bot.web.responses import download, html_page, media, plain_text
from bot.web.unrated import unrated_line

log = logging.getLogger(__name__)

_STATE_NAMES = {
    BattleState.CLOSED: "Vote closed",
    BattleState.NO_CONTEST: "No contest",
    BattleState.STOPPED: "Stopped",
    BattleState.INTERRUPTED: "Interrupted",
}


class BattlePages:
    """``/battles/{id}``, its ``.md`` and ``.yml`` downloads and its ``.ogg`` track."""

    def __init__(self, data: ArenaData, render: Callable[..., str], tracks: TrackDesk) -> None:
        self.data = data
        self.render = render
        self.tracks = tracks

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
                has_verses=has_verses(turns),
                unrated=unrated_line(battle),
                server_name=await self.data.store.server_name(battle.guild_id),
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

    async def battle_track(self, request: web.Request) -> web.Response:
        """The battle performed: made on the first request and kept, served from the store
        after. A speech engine that fails answers 503 and keeps nothing, so a later request
        tries again."""
        battle = await self._public_battle(request)
        turns = (await self.data.store.turns_of([battle.id]))[battle.id]
        if not has_verses(turns):
            raise web.HTTPNotFound(text=f"Battle {battle.id} has no verses to play.")
        kept = await self.data.store.track(battle.id)
        if kept is None:
            stored = await self.data.store.battle(battle.id)
            if stored is None:
                raise web.HTTPNotFound(text="No public battle has that number.")
            try:
                kept = await self.tracks.track(stored)
            except TrackError as error:
                log.warning("No track for battle %s: %s", battle.id, error)
                return plain_text(
                    f"The track of battle {battle.id} could not be made just now;"
                    " try again later.\n",
                    status=503,
                )
        return media(request, kept.ogg, track_filename(battle.id), "audio/ogg")

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


def has_verses(turns: Sequence[Turn]) -> bool:
    """Whether a battle has anything to perform: a verse, not only the host's announcements."""
    return any(not turn.is_announcement for turn in turns)


def _stage_names(battle: WebBattle, side: Side) -> str | None:
    """The blind name a side battled under (revealed now the vote has closed), if any."""
    if not battle.blind:
        return None
    return Battle(battle.model_a, battle.model_b, blind=True).stage_name(side)
