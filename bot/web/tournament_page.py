"""A public tournament's page: its rounds and matches, then the tiers it ended in (single
elimination) or its Swiss table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.engine.tournament import TableRow, TournamentFormat, swiss_table, tier_list
from bot.services.tournaments.record import progression_of
from bot.store.tournaments import StoredTournament
from bot.web import params
from bot.web.data import ArenaData
from bot.web.responses import html_page


class TournamentPage:
    """``/tournaments/{id}``."""

    def __init__(self, data: ArenaData, render: Callable[..., str]) -> None:
        self.data = data
        self.render = render

    async def tournament_page(self, request: web.Request) -> web.Response:
        tournament_id = params.identifier(request.match_info["tournament_id"])
        store = self.data.store
        tournament = None if tournament_id is None else await store.public_tournament(tournament_id)
        if tournament is None:
            # As for battles: a private server's tournament answers as one that doesn't exist.
            raise web.HTTPNotFound(text="No public tournament has that id.")
        name = await store.server_name(tournament.guild_id)
        return html_page(
            self.render("tournament.html", **tournament_view(tournament), server_name=name)
        )


def tournament_view(tournament: StoredTournament) -> dict[str, Any]:
    """What the tournament page shows: rounds with their matches (a battle linked once the match
    is decided, when its battle has ended and is public), the tiers or the Swiss table. No
    channel, thread or starter: those would name where and who."""
    single = tournament.tournament_format is TournamentFormat.SINGLE
    rounds = [
        {
            "number": played.number + 1,
            "bye": played.bye,
            "matches": [
                {
                    "index": match.index + 1,
                    "side_a": match.side_a,
                    "side_b": match.side_b,
                    "winner": match.winner,
                    "votes": None if match.votes_a is None else f"{match.votes_a}–{match.votes_b}",
                    "note": match.note,
                    "battle_id": match.battle_id if match.winner is not None else None,
                }
                for match in played.matches
            ],
        }
        for played in tournament.rounds
    ]
    tiers: list[tuple[str, tuple[str, ...]]] = []
    table: list[TableRow] = []
    if single and tournament.champion is not None:
        reached = [r.plan.contestants for r in progression_of(tournament).rounds]
        tiers = tier_list([*reached, (tournament.champion,)])
    elif not single:
        decisions, byes = progression_of(tournament).history()
        table = swiss_table(tournament.seeds, decisions, byes) if decisions else []
    return {
        "title": f"Tournament {tournament.id}",
        "tournament": tournament,
        "kind": "Single elimination" if single else "Swiss",
        "state": tournament.state.value,
        "rounds": rounds,
        "tiers": tiers,
        "table": table,
    }
