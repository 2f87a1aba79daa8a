"""The open data under ``/api/``: the boards and the models as JSON, and every public closed
battle as JSON Lines, paged by id."""

from __future__ import annotations

import datetime
import json
from typing import Any

from aiohttp import web

from bot.engine.battle import Side
from bot.engine.leaderboard import Board, Standing
from bot.engine.seasons import Season
from bot.services import links
from bot.web import params
from bot.web.data import ArenaData, battle_verdict
from bot.web.responses import json_document

BATTLES_PAGE = 100
MAX_BATTLES_PAGE = 1000


class OpenData:
    """``/api/leaderboard.json``, ``/api/battles.jsonl`` and ``/api/models.json``."""

    def __init__(self, data: ArenaData) -> None:
        self.data = data

    async def leaderboard_json(self, request: web.Request) -> web.Response:
        board = params.board(request)
        scope = await params.scope(self.data.store, request)
        length = await self.data.season_length(scope)
        season = params.season(request, length, self.data.now())
        view = await self.data.board(board, scope, season)
        document: dict[str, Any] = {
            "board": board.value,
            "scope": "global" if scope is None else str(scope),
        }
        if season is not None:
            document["season"] = season.name  # a season's board; all time has no such field
        document["models"] = [_standing_json(row) for row in view.rows]
        return json_document(document)

    async def battles_jsonl(self, request: web.Request) -> web.Response:
        after = params.number(request, "after", 0, 0, params.MAX_ID)
        limit = params.number(request, "limit", BATTLES_PAGE, 1, MAX_BATTLES_PAGE)
        battles = await self.data.store.public_closed_battles(after, limit)
        turns = await self.data.store.turns_of(b.id for b in battles)
        lines = []
        for battle in battles:
            verdict = await battle_verdict(self.data.store, battle.id)
            lines.append(
                json.dumps(
                    {
                        "id": battle.id,
                        "model_a": battle.model_a,
                        "model_b": battle.model_b,
                        "rounds": battle.rounds,
                        "topic": battle.topic,
                        "blind": battle.blind,
                        "scheduled": battle.scheduled,
                        "closed_at": _iso(battle.closed_at),
                        # The month it started in: the global board's season it counts in.
                        "season": Season.of(battle.created_at).name,
                        "turns": [
                            {"speaker": turn.speaker, "text": turn.text}
                            for turn in turns[battle.id]
                        ],
                        "votes": {"a": battle.votes(Side.A), "b": battle.votes(Side.B)},
                        "verdict": None if verdict is None else verdict.as_json(),
                    },
                    ensure_ascii=False,
                )
            )
        headers = {}
        if len(battles) == limit:
            headers["Link"] = (
                f'</api/battles.jsonl?after={battles[-1].id}&limit={limit}>; rel="next"'
            )
        return web.Response(
            text="".join(line + "\n" for line in lines),
            content_type="application/x-ndjson",
            charset="utf-8",
            headers=headers,
        )

    async def models_json(self, request: web.Request) -> web.Response:
        crowd = await self.data.board(Board.CROWD, None)
        judges = await self.data.board(Board.JUDGES, None)
        boards = {view.board: {row.model: row for row in view.rows} for view in (crowd, judges)}
        models = sorted(set(boards[Board.CROWD]) | set(boards[Board.JUDGES]))
        return json_document(
            {
                "models": [
                    {
                        "model": model,
                        "vendor": model.partition("/")[0] if "/" in model else None,
                        "page": links.model_path(model),
                        "avatar": links.avatar_path(model),
                        "last_battle": _iso(crowd.last_battle.get(model)),
                        **{
                            board.value: _standing_json(rows[model]) if model in rows else None
                            for board, rows in boards.items()
                        },
                    }
                    for model in models
                ]
            }
        )


def _standing_json(row: Standing) -> dict[str, Any]:
    rating, record = row.rating, row.record
    return {
        "model": row.model,
        "rank": row.rank,
        "rating": round(rating.rating, 2),
        "low": round(rating.low, 2),
        "high": round(rating.high, 2),
        "wins": record.wins,
        "losses": record.losses,
        "draws": record.draws,
        "battles": record.battles,
        "votes": record.votes,
    }


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="seconds")
