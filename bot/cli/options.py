"""The command line's shared vocabulary: exit statuses, and the options that more than one
subcommand takes, each declared once here (its type, its check and its help)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from bot.engine.battle import DEFAULT_ROUNDS, MAX_ROUNDS, MIN_ROUNDS, normalize_topic
from bot.engine.content_filter import FilterLevel, parse_level
from bot.engine.pacing import Pace
from bot.errors import UserError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def rounds_value(text: str) -> int:
    try:
        rounds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not MIN_ROUNDS <= rounds <= MAX_ROUNDS:
        raise argparse.ArgumentTypeError(f"rounds must be between {MIN_ROUNDS} and {MAX_ROUNDS}")
    return rounds


def pace_value(text: str) -> Pace:
    try:
        return Pace.parse(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def topic_value(text: str) -> str | None:
    try:
        return normalize_topic(text)
    except UserError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_rounds(parser: argparse.ArgumentParser, what: str = "rounds") -> None:
    """``--rounds N``; None when left out (then BATTLE_ROUNDS decides)."""
    parser.add_argument(
        "--rounds",
        type=rounds_value,
        default=None,
        help=f"{what}, {MIN_ROUNDS} to {MAX_ROUNDS} (default: BATTLE_ROUNDS or {DEFAULT_ROUNDS})",
    )


def add_pace(parser: argparse.ArgumentParser, default: Pace | None, default_text: str) -> None:
    """``--pace S|auto``. A battle watched live is paced like Discord's by default; a tournament's
    battles, which nobody reads as they arrive, are not."""
    parser.add_argument(
        "--pace",
        type=pace_value,
        default=default,
        help=f"pause after each verse: seconds, 0 for none, or 'auto' (default: {default_text})",
    )


def content_filter_value(text: str) -> FilterLevel:
    try:
        return parse_level(text)
    except ValueError:
        levels = ", ".join(level.value for level in FilterLevel)
        raise argparse.ArgumentTypeError(f"'{text}' is not one of {levels}") from None


def add_content_filter(parser: argparse.ArgumentParser) -> None:
    """``--content-filter standard|strict|off``: the terminal has no server to set it, so each
    command takes it (the default is a server's default, standard)."""
    parser.add_argument(
        "--content-filter",
        type=content_filter_value,
        default=FilterLevel.STANDARD,
        metavar="{standard,strict,off}",
        help="screen each verse before it is shown: standard withholds hate, slurs and the like "
        "(the default), strict also masks profanity, off shows verses as written",
    )


def add_judges(parser: argparse.ArgumentParser, what: str) -> None:
    """``--judges [IDS]``: None when left out, "" for the default panel, else the names."""
    parser.add_argument(
        "--judges",
        nargs="?",
        const="",
        default=None,
        metavar="IDS",
        help=f"{what}: comma-separated ids or aliases "
        "(with no ids: JUDGE_MODELS, or the default panel of five)",
    )


def fail(error: UserError | str) -> int:
    """One line on stderr, and the failure's exit status."""
    print(f"rapbattle: {error}", file=sys.stderr)
    return EXIT_FAILED


def run_in_terminal(work: Coroutine[Any, Any, int], stopped: str) -> int:
    """Runs a terminal command's work: its own output is the display, so only problems are
    logged; Ctrl-C says ``stopped`` and exits 130, and a UserError is one line."""
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        print(stopped, file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as error:
        return fail(error)
