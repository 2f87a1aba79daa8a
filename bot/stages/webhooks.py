"""Verses through a channel webhook: each MC posts under its own name and face.

One webhook of the bot's own per channel, found or created on first use and recreated when
someone deletes it. Only used where the bot has Manage Webhooks: every refused request counts
toward Discord's invalid-request ban, so without the permission no webhook request is made.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import discord

from bot.engine.battle import BLIND_NAMES, Battle, Side
from bot.engine.discord_limits import WEBHOOK_USERNAME_CHARS
from bot.services.links import absolute, avatar_path

WEBHOOK_NAME = "rapbattle"
# Discord refuses webhook names containing these words.
_FORBIDDEN_IN_NAMES = re.compile(r"(discord|clyde)", re.IGNORECASE)


def stage_name(battle: Battle, side: Side) -> str:
    """The name an MC posts under: the model id after its vendor, or MC A / MC B when blind."""
    if battle.blind:
        return BLIND_NAMES[0] if side is Side.A else BLIND_NAMES[1]
    return battle.model(side).rsplit("/", 1)[-1]


def webhook_username(name: str) -> str:
    """A name Discord accepts for a webhook message: no reserved words, and no longer
    than ``WEBHOOK_USERNAME_CHARS``."""
    # A zero-width space inside the word keeps it readable and out of Discord's way.
    safe = _FORBIDDEN_IN_NAMES.sub(lambda word: word[0][0] + "\u200b" + word[0][1:], name)
    return safe.strip()[:WEBHOOK_USERNAME_CHARS] or "MC"


class AvatarUrls:
    """Where each MC's face comes from: MODEL_AVATAR_URL's template, else the web arena's
    generated avatars at PUBLIC_URL, else the webhook's own default (None)."""

    def __init__(self, template: str | None, public_url: str | None) -> None:
        self._template = template
        self._public_url = public_url.rstrip("/") if public_url else None

    def for_side(self, battle: Battle, side: Side) -> str | None:
        if battle.blind:
            # The same two neutral faces in every blind battle (the web arena draws them), so
            # they reveal nothing; a template's faces would name the vendor.
            name = BLIND_NAMES[0] if side is Side.A else BLIND_NAMES[1]
            return absolute(self._public_url, avatar_path(name)) if self._public_url else None
        model = battle.model(side)
        if self._template:
            vendor = model.split("/", 1)[0]
            return self._template.format(vendor=quote(vendor, safe=""), model=quote(model, safe=""))
        if self._public_url:
            return absolute(self._public_url, avatar_path(model))
        return None


class WebhookUnavailable(Exception):
    """The channel's webhook could not be found or made (the channel's 15 webhooks are taken,
    the permission went away, a channel type without webhooks): post as the bot instead."""


class ChannelWebhooks:
    """The bot's own webhook in each channel, looked up or created once and then reused."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._hooks: dict[int, discord.Webhook] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def for_channel(self, channel_id: int) -> discord.Webhook:
        hook = self._hooks.get(channel_id)
        if hook is not None:
            return hook
        async with self._locks.setdefault(channel_id, asyncio.Lock()):
            hook = self._hooks.get(channel_id)
            if hook is None:
                try:
                    hook = await self._find_or_create(channel_id)
                except discord.HTTPException as error:
                    raise WebhookUnavailable(str(error)) from error
                self._hooks[channel_id] = hook
            return hook

    def forget(self, channel_id: int, hook: discord.Webhook) -> None:
        """Drops a webhook that turned out to be deleted, so the next use makes a new one."""
        if self._hooks.get(channel_id) is hook:
            del self._hooks[channel_id]

    async def _find_or_create(self, channel_id: int) -> discord.Webhook:
        channel = self._client.get_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            channel = await self._client.fetch_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            raise WebhookUnavailable(f"channel {channel_id} is not a text channel")
        me = self._client.user
        for hook in await channel.webhooks():
            if (
                hook.name == WEBHOOK_NAME
                and hook.token
                and hook.user
                and me
                and hook.user.id == me.id
            ):
                return hook
        return await channel.create_webhook(name=WEBHOOK_NAME, reason="rapbattle: MCs' verses")


class WebhookVerses:
    """Posts verse pieces through the channel's webhook, as the speaking MC."""

    def __init__(
        self, webhooks: ChannelWebhooks, avatars: AvatarUrls, parent_channel_id: int
    ) -> None:
        self._webhooks = webhooks
        self._avatars = avatars
        self._channel_id = parent_channel_id

    async def post(
        self, battle: Battle, side: Side, piece: str, thread_id: int | None
    ) -> discord.Message:
        for attempt in (1, 2):
            hook = await self._webhooks.for_channel(self._channel_id)
            try:
                return await hook.send(  # type: ignore[no-any-return]
                    piece,
                    username=webhook_username(stage_name(battle, side)),
                    avatar_url=self._avatars.for_side(battle, side) or discord.utils.MISSING,
                    allowed_mentions=discord.AllowedMentions.none(),
                    thread=discord.Object(thread_id) if thread_id else discord.utils.MISSING,
                    wait=True,
                )
            except discord.NotFound:
                # Someone deleted the webhook: make a new one and post the piece again, once.
                self._webhooks.forget(self._channel_id, hook)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
