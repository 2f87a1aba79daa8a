"""Splitting long text into Discord-sized messages without losing a character."""

from __future__ import annotations

from bot.engine.discord_limits import MESSAGE_CHARS

# Tried in order: a paragraph break, a line break, a space. A hard cut only when none fits.
_BREAKS = ("\n\n", "\n", " ")
_MARKDOWN_SPECIALS = "\\*_~`|>#-["


def split_message(text: str, limit: int = MESSAGE_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters whose concatenation is exactly ``text``.

    Each break stays at the end of the piece before it. A piece is blank only where the text
    itself holds a blank stretch longer than a piece; posting code skips those.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    for separator in _BREAKS:
        position = window.rfind(separator)
        while position >= 0:
            cut = position + len(separator)
            if cut <= limit and window[:cut].strip():
                return cut
            position = window.rfind(separator, 0, position)
    return limit


def escape_markdown(name: str) -> str:
    """A model name shown literally inside Discord markdown."""
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIALS else char for char in name)


def verse_header(name: str, round_number: int, rounds: int) -> str:
    label = "Final round" if round_number == rounds and rounds > 1 else f"Round {round_number}"
    return f"🎤 **{escape_markdown(name)}** · {label}"


def verse_messages(name: str, round_number: int, rounds: int, verse: str) -> list[str]:
    """A verse with its speaker header, as the messages that post it in order."""
    return split_message(f"{verse_header(name, round_number, rounds)}\n{verse}")
