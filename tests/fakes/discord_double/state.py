"""The double's world: guilds, channels, messages, reactions, commands, interactions.

Mutations emit the gateway events Discord would emit (through ``emitter``) and wake
everything waiting on the notifier. Nothing here does I/O.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import form_errors
from .interactions import Interaction
from .model import (
    Channel,
    Guild,
    Json,
    MessageFlag,
    MessageType,
    Notifier,
    ReactionEntry,
    Snowflakes,
    StoredAttachment,
    StoredMessage,
    Thread,
    User,
    Webhook,
    utcnow,
)

Emitter = Callable[[str, Json, "int | None"], None]
#: Flags a bot may set on a message it sends; LOADING/EPHEMERAL come from interactions.
SETTABLE_FLAGS = MessageFlag.SUPPRESS_EMBEDS | MessageFlag.SUPPRESS_NOTIFICATIONS | (1 << 15)
_APPLICATION_FLAG_FOR_INTENT = {1 << 1: 1 << 15, 1 << 8: 1 << 13, 1 << 15: 1 << 19}


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class TypingEvent:
    channel_id: int
    user_id: int
    at: float  # time.monotonic()
    timestamp: datetime.datetime


@dataclass(frozen=True)
class WebhookExecution:
    """One message posted through a channel webhook, with what the post asked for."""

    webhook_id: int
    channel_id: int  # the webhook's channel (a thread's parent)
    thread_id: int | None
    message_id: int
    content: str
    username: str | None
    avatar_url: str | None
    allowed_mentions: Json | None
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class CommandSync:
    guild_id: int | None
    commands: list[Json]
    at: float = field(default_factory=time.monotonic)


def emoji_payload(key: str) -> Json:
    """``{"id", "name"}`` for a unicode emoji or ``name:id`` custom one (as in URLs)."""
    name, _, snowflake = key.rpartition(":") if ":" in key else (key, "", "")
    if not snowflake.isdigit():
        return {"id": None, "name": key}
    return {"id": snowflake, "name": name.removeprefix("a:"), "animated": name.startswith("a:")}


class State:
    def __init__(self, *, bot_name: str, privileged_intents: int) -> None:
        self.snowflakes = Snowflakes()
        self.notifier = Notifier()
        self.bot = User(self.snowflakes.next(), bot_name, bot=True)
        self.application_id = self.bot.id
        self.application_owner = User(self.snowflakes.next(), "app-owner")
        self.privileged_intents = privileged_intents
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.message_index: dict[int, StoredMessage] = {}
        self.global_commands: list[Json] = []
        self.guild_commands: dict[int, list[Json]] = {}
        self.command_syncs: list[CommandSync] = []
        self.interactions: dict[int, Interaction] = {}
        self.typing_events: list[TypingEvent] = []
        self.webhooks: dict[int, Webhook] = {}
        self.webhook_executions: list[WebhookExecution] = []
        self.attachments: dict[int, StoredAttachment] = {}
        self.attachment_base = ""
        self.emitter: Emitter | None = None

    # -- World protocol -----------------------------------------------------------------

    def emit(self, event: str, data: Json, guild_id: int | None) -> None:
        if self.emitter is not None:
            self.emitter(event, data, guild_id)
        self.notifier.notify()

    def register_channel(self, channel: Channel) -> None:
        self.channels[channel.id] = channel

    def application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        for intent, flag in _APPLICATION_FLAG_FOR_INTENT.items():
            if self.privileged_intents & intent:
                flags |= flag
        return flags

    # -- lookups ------------------------------------------------------------------------

    def user(self, user_id: int) -> User | None:
        if user_id == self.bot.id:
            return self.bot
        for guild in self.guilds.values():
            if (member := guild.members.get(user_id)) is not None:
                return member.user
        return None

    def message(self, message_id: int) -> StoredMessage | None:
        message = self.message_index.get(message_id)
        if message is None or message.id not in message.channel.messages:
            return None
        return message

    # -- messages -----------------------------------------------------------------------

    def create_message(
        self,
        channel: Channel,
        author: User,
        body: Json,
        files: Sequence[UploadedFile] = (),
        *,
        interaction: Interaction | None = None,
        extra_flags: int = 0,
        strip_embeds: bool = False,
        webhook: Webhook | None = None,
    ) -> StoredMessage:
        settable = SETTABLE_FLAGS | (MessageFlag.EPHEMERAL if interaction else 0)
        message = StoredMessage(
            id=self.snowflakes.next(),
            channel=channel,
            author=author,
            flags=(int(body.get("flags") or 0) & settable) | extra_flags,
            tts=bool(body.get("tts")),
            nonce=body.get("nonce"),
            interaction=interaction,
            webhook=webhook,
        )
        if interaction is not None and interaction.type == 2 and interaction.original is None:
            message.type = MessageType.CHAT_INPUT_COMMAND
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            message.type = MessageType.REPLY
            message.message_reference = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(channel.id),
                "guild_id": str(channel.guild.id),
            }
        self._apply(message, body, files, strip_embeds=strip_embeds)
        channel.messages[message.id] = message
        self.message_index[message.id] = message
        if isinstance(channel, Thread) and not message.ephemeral:
            channel.total_message_sent += 1
        if not message.ephemeral:
            self.emit(
                "MESSAGE_CREATE", message.to_wire(self.bot.id, gateway=True), channel.guild.id
            )
        self.notifier.notify()
        return message

    def edit_message(
        self,
        message: StoredMessage,
        body: Json,
        files: Sequence[UploadedFile] = (),
        *,
        strip_embeds: bool = False,
    ) -> StoredMessage:
        was_loading = message.flags & MessageFlag.LOADING
        message.flags &= ~MessageFlag.LOADING
        if "flags" in body and body["flags"] is not None:
            message.flags = (message.flags & ~MessageFlag.SUPPRESS_EMBEDS) | (
                int(body["flags"]) & MessageFlag.SUPPRESS_EMBEDS
            )
        if not was_loading:
            message.edited_timestamp = utcnow()
        self._apply(message, body, files, strip_embeds=strip_embeds, editing=True)
        if not message.ephemeral:
            self.emit(
                "MESSAGE_UPDATE",
                message.to_wire(self.bot.id, gateway=True),
                message.channel.guild.id,
            )
        self.notifier.notify()
        return message

    def delete_message(self, message: StoredMessage) -> None:
        channel = message.channel
        if channel.messages.pop(message.id, None) is None:
            return
        if not message.ephemeral:
            self.emit(
                "MESSAGE_DELETE",
                {
                    "id": str(message.id),
                    "channel_id": str(channel.id),
                    "guild_id": str(channel.guild.id),
                },
                channel.guild.id,
            )
        self.notifier.notify()

    def _apply(
        self,
        message: StoredMessage,
        body: Json,
        files: Sequence[UploadedFile],
        *,
        strip_embeds: bool,
        editing: bool = False,
    ) -> None:
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            # Without Embed Links Discord silently drops embeds.
            embeds = [] if strip_embeds else body["embeds"] or []
            message.embeds = [{"type": "rich", **embed} for embed in embeds]
        if "components" in body:
            message.components = body["components"] or []
        if "allowed_mentions" in body:
            message.allowed_mentions = body["allowed_mentions"]
        described = {
            str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)
        }
        if editing and "attachments" in body:
            message.attachments = [a for a in message.attachments if str(a.id) in described]
        for index, upload in enumerate(files):
            attachment_id = self.snowflakes.next()
            description = described.get(str(index), {}).get("description")
            attachment = StoredAttachment(
                id=attachment_id,
                filename=upload.filename,
                content_type=upload.content_type,
                data=upload.data,
                url=f"{self.attachment_base}/{message.channel.id}/{attachment_id}/"
                f"{upload.filename}",
                description=description,
            )
            self.attachments[attachment_id] = attachment
            message.attachments.append(attachment)

    def messages_between(
        self,
        channel: Channel,
        *,
        limit: int,
        before: int | None,
        after: int | None,
        around: int | None,
    ) -> list[StoredMessage]:
        """What ``GET /channels/{c}/messages`` returns: newest first."""
        ordered = sorted(channel.visible_messages(), key=lambda m: m.id)
        if around is not None:
            older = [m for m in ordered if m.id < around][-(limit // 2) :] if limit > 1 else []
            rest = [m for m in ordered if m.id >= around][: limit - len(older)]
            chosen = older + rest
        elif after is not None:
            chosen = [m for m in ordered if m.id > after][:limit]
        else:
            if before is not None:
                ordered = [m for m in ordered if m.id < before]
            chosen = ordered[-limit:]
        return sorted(chosen, key=lambda m: m.id, reverse=True)

    # -- threads ------------------------------------------------------------------------

    def create_thread(
        self, message: StoredMessage, owner: User, name: str, auto_archive_duration: int
    ) -> Thread:
        """Start a public thread from ``message``: the thread takes the message's id, and the
        message shows it (HAS_THREAD and ``thread``). THREAD_CREATE goes out. As on Discord,
        the thread opens with a THREAD_STARTER_MESSAGE (type 21, by the thread's creator, no
        content) pointing back at the message."""
        parent = message.channel
        guild = parent.guild
        thread = Thread(
            message.id,
            guild,
            name,
            parent=parent,
            owner_id=owner.id,
            auto_archive_duration=auto_archive_duration,
            member_ids=[owner.id],
        )
        guild.threads[thread.id] = thread
        self.channels[thread.id] = thread
        message.thread = thread
        message.flags |= MessageFlag.HAS_THREAD
        self.emit("THREAD_CREATE", {**thread.to_wire(), "newly_created": True}, guild.id)
        starter = StoredMessage(
            id=self.snowflakes.next(),
            channel=thread,
            author=owner,
            type=MessageType.THREAD_STARTER_MESSAGE,
            message_reference={
                "type": 0,
                "channel_id": str(parent.id),
                "message_id": str(message.id),
                "guild_id": str(guild.id),
            },
            referenced=message,
        )
        thread.messages[starter.id] = starter
        self.message_index[starter.id] = starter
        self.emit("MESSAGE_CREATE", starter.to_wire(self.bot.id, gateway=True), guild.id)
        return thread

    # -- webhooks -----------------------------------------------------------------------

    def create_webhook(
        self, channel: Channel, name: str, creator: User, avatar_data: str | None = None
    ) -> Webhook:
        avatar = None
        if avatar_data:
            avatar = hashlib.sha1(avatar_data.encode()).hexdigest()[:32]
        webhook = Webhook(
            id=self.snowflakes.next(),
            token=secrets.token_urlsafe(48),
            channel=channel,
            name=name,
            creator=creator,
            application_id=self.application_id if creator is self.bot else None,
            avatar=avatar,
        )
        channel.webhooks[webhook.id] = webhook
        self.webhooks[webhook.id] = webhook
        self._webhooks_update(channel)
        return webhook

    def delete_webhook(self, webhook: Webhook) -> None:
        if self.webhooks.pop(webhook.id, None) is None:
            return
        webhook.channel.webhooks.pop(webhook.id, None)
        self._webhooks_update(webhook.channel)

    def _webhooks_update(self, channel: Channel) -> None:
        payload = {"guild_id": str(channel.guild.id), "channel_id": str(channel.id)}
        self.emit("WEBHOOKS_UPDATE", payload, channel.guild.id)

    def execute_webhook(
        self,
        webhook: Webhook,
        target: Channel,
        body: Json,
        files: Sequence[UploadedFile] = (),
    ) -> StoredMessage:
        """Post through ``webhook`` into its channel or one of that channel's threads."""
        avatar_url = body.get("avatar_url")
        avatar = hashlib.sha1(avatar_url.encode()).hexdigest()[:32] if avatar_url else None
        author = webhook.author(body.get("username"), avatar)
        message = self.create_message(target, author, body, files, webhook=webhook)
        self.webhook_executions.append(
            WebhookExecution(
                webhook_id=webhook.id,
                channel_id=webhook.channel.id,
                thread_id=target.id if target is not webhook.channel else None,
                message_id=message.id,
                content=message.content,
                username=body.get("username"),
                avatar_url=avatar_url,
                allowed_mentions=body.get("allowed_mentions"),
            )
        )
        return message

    # -- reactions ----------------------------------------------------------------------

    def add_reaction(
        self,
        message: StoredMessage,
        user: User,
        emoji: str,
        *,
        burst: bool = False,
        dispatch: bool = True,
    ) -> bool:
        entry = message.reactions.setdefault(emoji, ReactionEntry(emoji_payload(emoji)))
        if user.id in entry.users:
            return False
        entry.users[user.id] = burst
        if dispatch:
            guild = message.channel.guild
            payload = self._reaction_event(message, user.id, entry, burst)
            member = guild.members.get(user.id)
            if member is not None:
                payload["member"] = member.to_wire()
            payload["message_author_id"] = str(message.author.id)
            self.emit("MESSAGE_REACTION_ADD", payload, guild.id)
        self.notifier.notify()
        return True

    def remove_reaction(self, message: StoredMessage, user_id: int, emoji: str) -> bool:
        entry = message.reactions.get(emoji)
        if entry is None or user_id not in entry.users:
            return False
        burst = entry.users.pop(user_id)
        if not entry.users:
            del message.reactions[emoji]
        payload = self._reaction_event(message, user_id, entry, burst)
        self.emit("MESSAGE_REACTION_REMOVE", payload, message.channel.guild.id)
        return True

    def clear_reactions(self, message: StoredMessage, emoji: str | None = None) -> None:
        channel = message.channel
        base = {
            "channel_id": str(channel.id),
            "message_id": str(message.id),
            "guild_id": str(channel.guild.id),
        }
        if emoji is None:
            message.reactions.clear()
            self.emit("MESSAGE_REACTION_REMOVE_ALL", base, channel.guild.id)
        elif message.reactions.pop(emoji, None) is not None:
            event = {**base, "emoji": emoji_payload(emoji)}
            self.emit("MESSAGE_REACTION_REMOVE_EMOJI", event, channel.guild.id)

    @staticmethod
    def _reaction_event(
        message: StoredMessage, user_id: int, entry: ReactionEntry, burst: bool
    ) -> Json:
        return {
            "type": 1 if burst else 0,
            "user_id": str(user_id),
            "channel_id": str(message.channel.id),
            "message_id": str(message.id),
            "guild_id": str(message.channel.guild.id),
            "emoji": entry.emoji,
            "burst": burst,
            "burst_colors": [],
        }

    # -- application commands -----------------------------------------------------------

    def sync_commands(self, guild_id: int | None, body: list[Json]) -> list[Json]:
        """Replace the command set (bulk overwrite) and return it as Discord does."""
        _check_commands(body)
        current = (
            self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        )
        known = {(c["name"], c["type"]): c for c in current}
        result = []
        for command in body:
            kind = command.get("type") or 1
            previous = known.get((command["name"], kind))
            definition: Json = {
                "type": kind,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description") or "",
                "description_localizations": command.get("description_localizations"),
                "options": command.get("options") or [],
                "default_member_permissions": None
                if command.get("default_member_permissions") is None
                else str(command["default_member_permissions"]),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": bool(command.get("nsfw")),
            }
            if previous is not None and all(previous[k] == v for k, v in definition.items()):
                result.append(previous)
                continue
            result.append(
                {
                    **definition,
                    "id": previous["id"] if previous else str(self.snowflakes.next()),
                    "application_id": str(self.application_id),
                    "version": str(self.snowflakes.next()),
                    **({"guild_id": str(guild_id)} if guild_id is not None else {}),
                }
            )
        if guild_id is None:
            self.global_commands = result
        else:
            self.guild_commands[guild_id] = result
        self.command_syncs.append(CommandSync(guild_id, result))
        self.notifier.notify()
        return result

    def find_command(self, guild_id: int, name: str, kind: int = 1) -> Json | None:
        """The synced command a user in ``guild_id`` would pick (guild ones shadow global)."""
        for commands in (self.guild_commands.get(guild_id, []), self.global_commands):
            for command in commands:
                if command["name"] == name and command["type"] == kind:
                    return command
        return None


def _check_commands(body: list[Any]) -> None:
    """Rules Discord enforces on commands beyond the schema."""
    errors: list[tuple[Sequence[str | int], str, str]] = []
    seen: set[tuple[str, int]] = set()
    for index, command in enumerate(body):
        key = (command.get("name"), command.get("type") or 1)
        if key in seen:
            errors.append(
                (
                    [index, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            )
        seen.add(key)
        _check_options(command.get("options") or [], [index, "options"], errors)
    if errors:
        raise form_errors(errors)


def _check_options(
    options: list[Json], path: list[str | int], errors: list[tuple[Sequence[str | int], str, str]]
) -> None:
    optional_seen = False
    for index, option in enumerate(options):
        where = [*path, index]
        if option.get("type") in (1, 2):
            _check_options(option.get("options") or [], [*where, "options"], errors)
            continue
        if option.get("required"):
            if optional_seen:
                errors.append(
                    (
                        where,
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            optional_seen = True
        if option.get("autocomplete") and option.get("choices"):
            errors.append(
                (
                    [*where, "autocomplete"],
                    "AUTOCOMPLETE_AND_CHOICES_ERROR",
                    "Autocomplete cannot be set for options with choices",
                )
            )
