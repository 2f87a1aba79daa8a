"""Discord's error responses and the message limits Discord enforces itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILE_BYTES = 10 * 1024 * 1024
# (path inside one embed, limit); fields are checked separately.
_EMBED_TEXT_LIMITS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("title",), 256),
    (("description",), 4096),
    (("footer", "text"), 2048),
    (("author", "name"), 256),
)


class DiscordError(Exception):
    """An error answer in Discord's format: ``{"message", "code", "errors"?}``."""

    def __init__(self, status: int, code: int, message: str, errors: Json | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def to_json(self) -> Json:
        body: Json = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found(code: int, what: str) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


UNKNOWN_CHANNEL = 10003, "Channel"
UNKNOWN_GUILD = 10004, "Guild"
UNKNOWN_MEMBER = 10007, "Member"
UNKNOWN_MESSAGE = 10008, "Message"
UNKNOWN_USER = 10013, "User"
UNKNOWN_EMOJI = 10014, "Emoji"
UNKNOWN_WEBHOOK = 10015, "Webhook"
UNKNOWN_INTERACTION = 10062, "interaction"


def unknown(kind: tuple[int, str]) -> DiscordError:
    return not_found(*kind)


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


def form_errors(errors: list[tuple[Sequence[str | int], str, str]]) -> DiscordError:
    """400/50035 "Invalid Form Body" with ``errors`` nested like Discord's.

    Each error is (path, code, message); e.g. (["content"], "BASE_TYPE_MAX_LENGTH", ...)
    becomes ``{"content": {"_errors": [{"code": ..., "message": ...}]}}``.
    """
    tree: Json = {}
    for path, code, message in errors:
        node = tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return DiscordError(400, 50035, "Invalid Form Body", tree)


def _too_long(path: Sequence[str | int], limit: int) -> tuple[Sequence[str | int], str, str]:
    return path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."


def _embed_text(embed: Json, keys: tuple[str, ...]) -> str:
    value: Any = embed
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def check_message_body(
    body: Json, *, file_count: int = 0, creating: bool = True, prefix: Sequence[str] = ()
) -> None:
    """Enforce Discord's message limits (content 2000, embeds) and the non-empty rule.

    The OpenAPI description allows 4000 characters of content (that is for Nitro users);
    bots get 2000, which only this check enforces.
    """
    errors: list[tuple[Sequence[str | int], str, str]] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        errors.append(_too_long([*prefix, "content"], MAX_CONTENT))
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        errors.append(_too_long([*prefix, "embeds"], MAX_EMBEDS))
    total = 0
    for index, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            continue
        where: list[str | int] = [*prefix, "embeds", index]
        for keys, limit in _EMBED_TEXT_LIMITS:
            text = _embed_text(embed, keys)
            total += len(text)
            if len(text) > limit:
                errors.append(_too_long([*where, *keys], limit))
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.append(_too_long([*where, "fields"], 25))
        for number, embed_field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(embed_field.get(key) or "")
                total += len(text)
                if len(text) > limit:
                    errors.append(_too_long([*where, "fields", number, key], limit))
    if total > MAX_EMBED_TOTAL:
        errors.append(
            (
                [*prefix, "embeds"],
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
            )
        )
    if errors:
        raise form_errors(errors)
    has_something = (
        content
        or embeds
        or file_count
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or body.get("attachments")
    )
    if creating and not has_something:
        raise DiscordError(400, 50006, "Cannot send an empty message")
