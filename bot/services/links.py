"""Paths of the web arena's pages, and absolute links to them under PUBLIC_URL.

Other parts of the bot (the /leaderboard embed, results messages, webhook avatars) link here.
"""

from __future__ import annotations

from urllib.parse import quote

# Characters a model id keeps in a path: its slash, and the usual unreserved ones.
_PATH_SAFE = "/-._~:@+"


def model_path(model: str) -> str:
    return f"/models/{quote(model, safe=_PATH_SAFE)}"


def avatar_path(model: str) -> str:
    return f"/avatars/{quote(model, safe=_PATH_SAFE)}.png"


def battle_path(battle_id: int) -> str:
    return f"/battles/{battle_id}"


def server_path(guild_id: int) -> str:
    return f"/servers/{guild_id}"


def absolute(public_url: str, path: str) -> str:
    """A path under PUBLIC_URL, e.g. absolute("https://arena.example", battle_path(7))."""
    return public_url.rstrip("/") + path
