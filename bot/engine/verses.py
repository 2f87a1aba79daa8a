"""Verse cleanup: what a model answered, minus whitespace around it and its reasoning."""

from __future__ import annotations

import re

_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = "</think>"


def clean_verse(raw: str | None) -> str | None:
    """The verse to post, or None when nothing is left to post."""
    if not raw:
        return None
    text = _THINK_BLOCK.sub("", raw)
    # Some providers drop the opening tag of a reasoning block and send only its end.
    closing = text.lower().rfind(_THINK_CLOSE)
    if closing >= 0:
        text = text[closing + len(_THINK_CLOSE) :]
    text = text.strip()
    return text or None
