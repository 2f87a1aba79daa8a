"""Entities of the simulated Discord world and their JSON (wire) forms.

Ids are ints in Python and strings on the wire, like Discord's snowflakes.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from .interactions import Interaction

Json = dict[str, Any]
T = TypeVar("T")

DISCORD_EPOCH_MS = 1_420_070_400_000


class Permission(IntFlag):
    """The permission bits the double enforces (Discord's values)."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 53) - 1
#: What the bot's managed role grants (as if invited with these), so in every channel by default.
BOT_DEFAULT_PERMISSIONS = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.SEND_MESSAGES_IN_THREADS
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.USE_APPLICATION_COMMANDS
)
#: A typical @everyone role of a fresh server.
EVERYONE_DEFAULT_PERMISSIONS = (
    Permission.CREATE_INSTANT_INVITE
    | Permission.CHANGE_NICKNAME
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.USE_VAD
    | Permission.STREAM
    | Permission.REQUEST_TO_SPEAK
)

#: discord.py's ``Permissions.voice()``: Priority Speaker, Stream, Connect, Speak, Mute/Deafen/
#: Move Members, Use Voice Activity, Use Activities, Use Soundboard, Use External Sounds, Set
#: Voice Channel Status. Text channels carry none of them.
VOICE_ONLY_PERMISSIONS = sum(1 << bit for bit in (8, 9, 20, 21, 22, 23, 24, 25, 39, 42, 45, 48))


class Intent(IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_WEBHOOKS = 1 << 5
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT


class ChannelType(IntEnum):
    GUILD_TEXT = 0
    GUILD_VOICE = 2
    PUBLIC_THREAD = 11
    GUILD_STAGE_VOICE = 13


class MessageType(IntEnum):
    DEFAULT = 0
    REPLY = 19
    CHAT_INPUT_COMMAND = 20
    THREAD_STARTER_MESSAGE = 21


class MessageFlag(IntFlag):
    SUPPRESS_EMBEDS = 1 << 2
    HAS_THREAD = 1 << 5
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12


class HasValue(Protocol):
    @property
    def value(self) -> int: ...


PermissionsLike = int | HasValue


def bits(permissions: PermissionsLike) -> int:
    """Accept an int, a :class:`Permission` or a ``discord.Permissions``."""
    return permissions if isinstance(permissions, int) else int(permissions.value)


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def snowflake_shard(snowflake: int, shard_count: int) -> int:
    """The shard a guild lives on: ``(guild_id >> 22) % shard_count``."""
    return (snowflake >> 22) % shard_count


class Snowflakes:
    """Hands out increasing snowflakes whose timestamp part is the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A snowflake placed on ``shard_id`` of ``shard_count`` (for guild ids)."""
        if not 0 <= shard_id < shard_count:
            raise ValueError(f"shard {shard_id} does not exist among {shard_count} shards")
        timestamp = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, (self._last >> 22) + 1)
        timestamp += (shard_id - timestamp) % shard_count
        self._last = timestamp << 22
        return self._last


class Notifier:
    """Lets tests wait until some condition on the world becomes true."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for(
        self, check: Callable[[], T | None], timeout: float, what: str | Callable[[], str]
    ) -> T:
        """Return ``check()``'s first non-None result; TimeoutError after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (result := check()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                description = what() if callable(what) else what
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {description}")
            waiter = loop.create_future()
            self._waiters.add(waiter)
            await asyncio.wait([waiter], timeout=remaining)
            self._waiters.discard(waiter)
        return result


class World(Protocol):
    """What entities need from the double: ids, change notification, event emission."""

    snowflakes: Snowflakes
    notifier: Notifier
    bot: User

    def emit(self, event: str, data: Json, guild_id: int | None) -> None: ...

    def register_channel(self, channel: Channel) -> None: ...


@dataclass(eq=False)
class User:
    id: int
    name: str
    bot: bool = False
    avatar: str | None = None  # an avatar hash
    discriminator: str = "0"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_wire(self) -> Json:
        data: Json = {
            "id": str(self.id),
            "username": self.name,
            "discriminator": self.discriminator,
            "global_name": None if self.bot else self.name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(eq=False)
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    bot_id: int | None = None

    def to_wire(self) -> Json:
        data: Json = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.bot_id is not None,
            "mentionable": False,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(eq=False)
class Member:
    user: User
    guild: Guild = field(repr=False)
    role_ids: list[int] = field(default_factory=list)
    joined_at: datetime.datetime = field(default_factory=utcnow)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def mention(self) -> str:
        return self.user.mention

    def to_wire(self, *, with_user: bool = True, permissions: int | None = None) -> Json:
        data: Json = {
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(role_id) for role_id in self.role_ids],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_wire()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def to_wire(self) -> Json:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass(eq=False)
class Channel:
    """A guild text channel and the messages in it."""

    id: int
    guild: Guild = field(repr=False)
    name: str
    position: int = 0
    topic: str | None = None
    overwrites: dict[int, Overwrite] = field(default_factory=dict, repr=False)
    messages: dict[int, StoredMessage] = field(default_factory=dict, repr=False)
    webhooks: dict[int, Webhook] = field(default_factory=dict, repr=False)
    nsfw: bool = False  # age-restricted; set it before the bot connects

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_thread(self) -> bool:
        return False

    @property
    def send_permission(self) -> Permission:
        """What sending a message here needs (Send Messages in Threads inside a thread)."""
        return Permission.SEND_MESSAGES

    @property
    def permission_source(self) -> Channel:
        """The channel whose overwrites apply here (a thread's parent)."""
        return self

    def grant_bot(self, permissions: PermissionsLike) -> None:
        """Allow the bot ``permissions`` here through its member overwrite (CHANNEL_UPDATE)."""
        self._change_bot_overwrite(allow=bits(permissions), deny=0)

    def revoke_bot(self, permissions: PermissionsLike) -> None:
        """Deny the bot ``permissions`` here through its member overwrite (CHANNEL_UPDATE)."""
        self._change_bot_overwrite(allow=0, deny=bits(permissions))

    def _change_bot_overwrite(self, *, allow: int, deny: int) -> None:
        channel = self.permission_source
        bot_id = self.guild.world.bot.id
        current = channel.overwrites.get(bot_id) or Overwrite(bot_id, 1)
        channel.set_permissions(
            bot_id,
            allow=(current.allow & ~deny) | allow,
            deny=(current.deny & ~allow) | deny,
        )

    def set_permissions(
        self,
        target: Role | Member | User | int,
        *,
        allow: PermissionsLike = 0,
        deny: PermissionsLike = 0,
    ) -> None:
        """Put a permission overwrite on the channel (dispatches CHANNEL_UPDATE)."""
        if isinstance(target, Role):
            overwrite = Overwrite(target.id, 0, bits(allow), bits(deny))
        elif isinstance(target, Member | User):
            overwrite = Overwrite(target.id, 1, bits(allow), bits(deny))
        else:
            kind = 0 if target in self.guild.roles else 1
            overwrite = Overwrite(target, kind, bits(allow), bits(deny))
        if self.is_thread:
            raise ValueError("a thread takes its parent's overwrites: set them there")
        self.overwrites[overwrite.id] = overwrite
        self.guild.world.emit("CHANNEL_UPDATE", self.to_wire(), self.guild.id)

    def permissions_for(self, member: Member) -> int:
        return self.guild.permissions_for(member, self)

    def implicitly_denied(self, permissions: int) -> int:
        """What the channel's kind takes away from computed ``permissions`` (a text channel
        or thread: the voice permissions; voice channels override)."""
        return VOICE_ONLY_PERMISSIONS

    def visible_messages(self) -> list[StoredMessage]:
        return [m for m in self.messages.values() if not m.flags & MessageFlag.EPHEMERAL]

    def to_wire(self) -> Json:
        last = max((m.id for m in self.visible_messages()), default=None)
        return {
            "id": str(self.id),
            "type": 0,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.to_wire() for o in self.overwrites.values()],
            "topic": self.topic,
            "nsfw": self.nsfw,
            "last_message_id": None if last is None else str(last),
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
            "default_auto_archive_duration": 1440,
            "default_thread_rate_limit_per_user": 0,
        }


@dataclass(eq=False)
class Thread(Channel):
    """A public thread started from a message: its id is the message's, and permissions
    come from the parent channel's overwrites."""

    parent: Channel | None = field(default=None, repr=False)
    owner_id: int = 0
    auto_archive_duration: int = 1440
    created_at: datetime.datetime = field(default_factory=utcnow, repr=False)
    member_ids: list[int] = field(default_factory=list, repr=False)
    total_message_sent: int = 0

    @property
    def is_thread(self) -> bool:
        return True

    @property
    def send_permission(self) -> Permission:
        return Permission.SEND_MESSAGES_IN_THREADS

    @property
    def permission_source(self) -> Channel:
        assert self.parent is not None
        return self.parent

    def to_wire(self) -> Json:
        assert self.parent is not None
        last = max((m.id for m in self.visible_messages()), default=None)
        data: Json = {
            "id": str(self.id),
            "type": int(ChannelType.PUBLIC_THREAD),
            "guild_id": str(self.guild.id),
            "parent_id": str(self.parent.id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": None if last is None else str(last),
            "rate_limit_per_user": 0,
            "flags": 0,
            # Like Discord, neither count includes the thread starter message.
            "message_count": sum(
                1 for m in self.visible_messages() if m.type != MessageType.THREAD_STARTER_MESSAGE
            ),
            "member_count": min(len(self.member_ids), 50),
            "total_message_sent": self.total_message_sent,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": iso(self.created_at),
                "locked": False,
                "create_timestamp": iso(self.created_at),
            },
        }
        bot_id = self.guild.world.bot.id
        if bot_id in self.member_ids:
            data["member"] = {
                "id": str(self.id),
                "user_id": str(bot_id),
                "join_timestamp": iso(self.created_at),
                "flags": 0,
            }
        return data


@dataclass(eq=False)
class Webhook:
    """An incoming webhook of a channel, made by the bot (or a test)."""

    id: int
    token: str
    channel: Channel = field(repr=False)
    name: str
    creator: User = field(repr=False)
    application_id: int | None = None
    avatar: str | None = None

    def to_wire(self, *, with_token: bool = True) -> Json:
        data: Json = {
            "id": str(self.id),
            "type": 1,
            "guild_id": str(self.channel.guild.id),
            "channel_id": str(self.channel.id),
            "name": self.name,
            "avatar": self.avatar,
            "application_id": None if self.application_id is None else str(self.application_id),
            "user": self.creator.to_wire(),
        }
        if with_token:
            data["token"] = self.token
        return data

    def author(self, username: str | None, avatar: str | None) -> User:
        """Who a message posted through this webhook is from: the webhook, under the name and
        avatar the post asked for."""
        return User(
            self.id,
            username or self.name,
            bot=True,
            avatar=avatar or self.avatar,
            discriminator="0000",
        )


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    world: World = field(repr=False)
    owner: Member = field(init=False, repr=False)
    bot_member: Member = field(init=False, repr=False)
    roles: dict[int, Role] = field(default_factory=dict, repr=False)
    members: dict[int, Member] = field(default_factory=dict, repr=False)
    channels: dict[int, Channel] = field(default_factory=dict, repr=False)
    threads: dict[int, Thread] = field(default_factory=dict, repr=False)
    # user id -> VoiceState, channel id -> StageInstance (voice_model.py; kept here so
    # GUILD_CREATE carries them)
    voice_states: dict[int, Any] = field(default_factory=dict, repr=False)
    stage_instances: dict[int, Any] = field(default_factory=dict, repr=False)
    joined_at: datetime.datetime = field(default_factory=utcnow, repr=False)

    def __post_init__(self) -> None:
        self.roles[self.id] = Role(self.id, "@everyone", int(EVERYONE_DEFAULT_PERMISSIONS))
        self.owner = self._new_member(User(self.world.snowflakes.next(), "owner"))
        bot_role = self.add_role(
            self.world.bot.name, BOT_DEFAULT_PERMISSIONS, bot_id=self.world.bot.id, emit=False
        )
        self.bot_member = self._new_member(self.world.bot, [bot_role.id])

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def shard_id(self, shard_count: int) -> int:
        return snowflake_shard(self.id, shard_count)

    def add_role(
        self,
        name: str,
        permissions: PermissionsLike = 0,
        *,
        bot_id: int | None = None,
        emit: bool = True,
    ) -> Role:
        role = Role(self.world.snowflakes.next(), name, bits(permissions), len(self.roles), bot_id)
        self.roles[role.id] = role
        if emit:
            payload = {"guild_id": str(self.id), "role": role.to_wire()}
            self.world.emit("GUILD_ROLE_CREATE", payload, self.id)
        return role

    def add_channel(
        self,
        name: str,
        *,
        bot_permissions: PermissionsLike | None = None,
        topic: str | None = None,
    ) -> Channel:
        """Add a text channel (dispatches CHANNEL_CREATE once the bot is connected).

        ``bot_permissions`` makes the bot's permissions in this channel exactly that value
        (a member overwrite allowing it and denying everything else); by default the bot has
        :data:`BOT_DEFAULT_PERMISSIONS`.
        """
        channel = Channel(self.world.snowflakes.next(), self, name, len(self.channels), topic)
        if bot_permissions is not None:
            allowed = bits(bot_permissions)
            channel.overwrites[self.world.bot.id] = Overwrite(
                self.world.bot.id, 1, allowed, ALL_PERMISSIONS & ~allowed
            )
        self.channels[channel.id] = channel
        self.world.register_channel(channel)
        self.world.emit("CHANNEL_CREATE", channel.to_wire(), self.id)
        return channel

    def rename(self, name: str) -> None:
        """The server's admins rename it (dispatches GUILD_UPDATE)."""
        self.name = name
        self.world.emit("GUILD_UPDATE", self.to_wire(), self.id)

    def add_member(
        self,
        user: str | User,
        *,
        permissions: PermissionsLike | None = None,
        roles: Iterable[Role] = (),
        bot: bool = False,
    ) -> Member:
        """Add a member: a new user named ``user``, or an existing :class:`User`.

        ``permissions`` gives the member a personal role with those permissions on top of
        @everyone's.
        """
        if not isinstance(user, User):
            user = User(self.world.snowflakes.next(), user, bot)
        role_ids = [role.id for role in roles]
        if permissions is not None:
            role_ids.append(self.add_role(f"{user.name}-role", permissions).id)
        member = self._new_member(user, role_ids)
        payload = {**member.to_wire(), "guild_id": str(self.id)}
        self.world.emit("GUILD_MEMBER_ADD", payload, self.id)
        return member

    def _new_member(self, user: User, role_ids: list[int] | None = None) -> Member:
        member = Member(user, self, role_ids or [])
        self.members[user.id] = member
        return member

    def permissions_for(self, member: Member, channel: Channel | None = None) -> int:
        """Discord's permission algorithm: roles, then channel overwrites, then implicit rules."""
        if member.id == self.owner.id:
            return ALL_PERMISSIONS
        base = self.everyone.permissions
        for role_id in member.role_ids:
            base |= self.roles[role_id].permissions
        if base & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is None:
            return base
        perms = base
        overwrites = channel.permission_source.overwrites
        if everyone := overwrites.get(self.id):
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.role_ids:
            if overwrite := overwrites.get(role_id):
                allow |= overwrite.allow
                deny |= overwrite.deny
        perms = (perms & ~deny) | allow
        own = overwrites.get(member.id)
        if own is not None and own.type == 1:
            perms = (perms & ~own.deny) | own.allow
        # Implicit rules: no View Channel means nothing; no Send Messages (in a thread: Send
        # Messages in Threads) removes what only makes sense when sending.
        if not perms & Permission.VIEW_CHANNEL:
            return 0
        if not perms & channel.send_permission:
            perms &= ~(
                Permission.SEND_TTS_MESSAGES
                | Permission.MENTION_EVERYONE
                | Permission.EMBED_LINKS
                | Permission.ATTACH_FILES
            )
        return perms & ~channel.implicitly_denied(perms)

    def to_wire(self) -> Json:
        """The guild object (REST form)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.to_wire() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "max_members": 500_000,
        }

    def to_gateway(self, *, all_members: bool) -> Json:
        """The GUILD_CREATE payload.

        Without the GUILD_MEMBERS intent Discord only includes the bot's own member;
        ``member_count`` is always the real total.
        """
        members = self.members.values() if all_members else [self.bot_member]
        return {
            **self.to_wire(),
            "joined_at": iso(self.joined_at),
            "large": len(self.members) >= 250,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [member.to_wire() for member in members],
            "channels": [channel.to_wire() for channel in self.channels.values()],
            "threads": [thread.to_wire() for thread in self.threads.values()],
            "voice_states": [v.to_wire(with_guild=False) for v in self.voice_states.values()],
            "presences": [],
            "stage_instances": [s.to_wire() for s in self.stage_instances.values()],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class StoredAttachment:
    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None

    def to_wire(self) -> Json:
        return {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "description": self.description,
            "flags": 0,
        }


@dataclass
class ReactionEntry:
    emoji: Json  # {"id": str | None, "name": str}
    users: dict[int, bool] = field(default_factory=dict)  # user id -> burst

    def count(self, *, burst: bool | None = None) -> int:
        return sum(1 for b in self.users.values() if burst is None or b == burst)


@dataclass(eq=False)
class StoredMessage:
    """A message as the double stores it (including what the sender asked for)."""

    id: int
    channel: Channel = field(repr=False)
    author: User
    content: str = ""
    embeds: list[Json] = field(default_factory=list)
    components: list[Json] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = MessageType.DEFAULT
    tts: bool = False
    nonce: int | str | None = None
    allowed_mentions: Json | None = None
    message_reference: Json | None = None
    interaction: Interaction | None = field(default=None, repr=False)
    webhook: Webhook | None = field(default=None, repr=False)
    thread: Thread | None = field(default=None, repr=False)
    referenced: StoredMessage | None = field(default=None, repr=False)
    timestamp: datetime.datetime = field(default_factory=utcnow)
    edited_timestamp: datetime.datetime | None = None
    reactions: dict[str, ReactionEntry] = field(default_factory=dict)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    def to_wire(self, viewer_id: int, *, gateway: bool = False) -> Json:
        """The message as Discord returns it to ``viewer_id`` (the bot)."""
        data: Json = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.to_wire(),
            "content": self.content,
            "timestamp": iso(self.timestamp),
            "edited_timestamp": None
            if self.edited_timestamp is None
            else iso(self.edited_timestamp),
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.to_wire() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": int(self.type),
            "flags": self.flags,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.reactions:
            data["reactions"] = [
                {
                    "emoji": entry.emoji,
                    "count": entry.count(),
                    "count_details": {
                        "normal": entry.count(burst=False),
                        "burst": entry.count(burst=True),
                    },
                    "burst_colors": [],
                    "me": entry.users.get(viewer_id) is False,
                    "me_burst": entry.users.get(viewer_id) is True,
                }
                for entry in self.reactions.values()
                if entry.users
            ]
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        if self.type == MessageType.THREAD_STARTER_MESSAGE:
            # It carries nothing of its own: the message the thread was started from comes
            # along (null once that message is deleted).
            referenced = self.referenced
            alive = referenced is not None and referenced.id in referenced.channel.messages
            data["referenced_message"] = (
                referenced.to_wire(viewer_id) if alive and referenced is not None else None
            )
        if self.webhook is not None:
            data["webhook_id"] = str(self.webhook.id)
        if self.thread is not None:
            data["thread"] = self.thread.to_wire()
        if self.interaction is not None:
            data["webhook_id"] = str(self.interaction.application_id)
            data["application_id"] = str(self.interaction.application_id)
            data["interaction_metadata"] = self.interaction.metadata()
        if gateway:
            data["guild_id"] = str(self.channel.guild.id)
            member = self.channel.guild.members.get(self.author.id)
            if member is not None:
                data["member"] = member.to_wire(with_user=False)
        return data

    def to_view(self, viewer_id: int) -> Json:
        """The wire form plus what only the double knows: what was asked for and file bytes."""
        return {
            **self.to_wire(viewer_id),
            "guild_id": str(self.channel.guild.id),
            "allowed_mentions": self.allowed_mentions,
            "files": [
                {"filename": a.filename, "content_type": a.content_type, "data": a.data}
                for a in self.attachments
            ],
        }
