"""The web arena: leaderboards, battles and charts on pages anyone can open.

Import the parts you need (``bot.web.server.WebServer``, ``bot.services.links``): the bot links to
pages without loading the web server.
"""
