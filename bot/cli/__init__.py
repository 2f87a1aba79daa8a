"""The ``rapbattle`` command line: a terminal front end over the same services as the bot."""

from bot.cli.main import main

__all__ = ["main"]
