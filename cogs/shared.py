"""What several commands share, declared once: model autocomplete, and the options a tournament
takes whether it starts now (/tournament) or on a schedule (/tournament-schedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands

from bot.engine.discord_limits import AUTOCOMPLETE_NAME_CHARS, AUTOCOMPLETE_VALUE_CHARS
from bot.engine.progression import DISCORD_ROSTER
from bot.engine.tournament import TournamentFormat
from bot.services.tournaments.sessions import SeedOrder

if TYPE_CHECKING:
    from bot.client import RapBattleBot

TOURNAMENT_DESCRIPTIONS = {
    "models": "{} to {} models separated by commas, strongest first".format(*DISCORD_ROSTER),
    "tournament_format": "single (elimination, the default) or swiss (rounds of equal scores)",
    "seed": "given (the order listed, the default) or rating (this server's leaderboard)",
    "judges": "Let the judges decide draws (default: the server's setting)",
}
TOURNAMENT_CHOICES = {
    "tournament_format": [
        app_commands.Choice(name=kind.value, value=kind.value) for kind in TournamentFormat
    ],
    "seed": [app_commands.Choice(name=order.value, value=order.value) for order in SeedOrder],
}


def model_choices(bot: RapBattleBot, current: str) -> list[app_commands.Choice[str]]:
    """Models matching what is typed so far, from the catalog as it is known now."""
    catalog = bot.catalog
    if not catalog.loaded:
        # Answer now from what is known; the list arrives for the next keystroke.
        bot.arena.in_background(catalog.refresh_if_stale(), "catalog refresh")
    return [
        app_commands.Choice(
            name=model[:AUTOCOMPLETE_NAME_CHARS], value=model[:AUTOCOMPLETE_VALUE_CHARS]
        )
        for model in catalog.suggest(current)
    ]
