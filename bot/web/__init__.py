"""The web arena: leaderboards, battles and charts on pages anyone can open."""

from bot.web.server import WebServer

__all__ = ["WebServer"]
