"""The voice part of ``DiscordDouble``'s API: building voice channels and acting as members
and moderators in voice. Mixed into :class:`DiscordDouble`; ``double.voice`` (a
:class:`~.voice.VoiceServer`) observes the bot's side. See ``voice.py`` for the protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .model import ALL_PERMISSIONS, Guild, Json, Member, Overwrite, PermissionsLike, User, bits
from .state import State
from .voice import VoiceRecords, VoiceServer
from .voice_model import VoiceChannel
from .voice_rest import VoiceRoutes
from .voice_udp import VoiceUdp
from .voice_world import VoiceWorld
from .voice_ws import VoiceWebSocketServer

if TYPE_CHECKING:
    from .model import Channel

UserRef = Member | User | int


class VoiceParts:
    """The voice server's pieces, built with the double and started with it."""

    def __init__(self, state: State, host: str, flush: Callable[[], Awaitable[None]]) -> None:
        self.records = VoiceRecords()
        self.udp = VoiceUdp(self.records, state.notifier.notify)
        self.websocket = VoiceWebSocketServer(
            notifier=state.notifier, records=self.records, udp=self.udp, host=host
        )
        self.world = VoiceWorld(
            state=state,
            server=self.websocket,
            records=self.records,
            flush=flush,
        )
        self.routes = VoiceRoutes(state=state, world=self.world, records=self.records)
        self.server = VoiceServer(
            notifier=state.notifier,
            websocket=self.websocket,
            udp=self.udp,
            records=self.records,
            bot_state=self.world.bot_state,
        )
        self._host = host

    async def start(self) -> None:
        await self.udp.start(self._host)
        await self.websocket.start()

    async def close(self) -> None:
        await self.world.close()
        await self.websocket.close()
        self.udp.close()


class VoiceActions:
    """Voice methods of :class:`DiscordDouble` (which provides ``_state``, ``_flush``,
    ``_member`` and ``_voice``)."""

    _state: State
    _voice: VoiceParts

    if TYPE_CHECKING:

        async def _flush(self, timeout: float = 5.0) -> None: ...

        @staticmethod
        def _member(user: UserRef, guild: Guild) -> Member: ...

    @property
    def voice(self) -> VoiceServer:
        """The voice server: the bot's connections and what it sent (frames, speaking...)."""
        return self._voice.server

    # -- world setup ------------------------------------------------------------------------

    def add_voice_channel(
        self,
        guild: Guild,
        name: str,
        *,
        stage: bool = False,
        bot_permissions: PermissionsLike | None = None,
        user_limit: int = 0,
        bitrate: int = 64_000,
    ) -> VoiceChannel:
        """Add a voice channel (type 2) or, with ``stage``, a Stage channel (type 13)
        (CHANNEL_CREATE once the bot is connected).

        ``bot_permissions`` makes the bot's permissions here exactly that value, as for
        ``guild.add_channel``; by default the bot has its role's and @everyone's (View
        Channel, Connect, Speak, Request to Speak... but not Mute Members, Move Members or
        Manage Channels: grant those with ``double.grant`` to make it a Stage moderator).
        """
        world = guild.world
        channel = VoiceChannel(
            world.snowflakes.next(),
            guild,
            name,
            len(guild.channels),
            stage=stage,
            user_limit=user_limit,
            bitrate=bitrate,
        )
        if bot_permissions is not None:
            allowed = bits(bot_permissions)
            channel.overwrites[world.bot.id] = Overwrite(
                world.bot.id, 1, allowed, ALL_PERMISSIONS & ~allowed
            )
        guild.channels[channel.id] = channel
        world.register_channel(channel)
        world.emit("CHANNEL_CREATE", channel.to_wire(), guild.id)
        return channel

    # -- members in voice -----------------------------------------------------------------

    async def join_voice(
        self,
        user: UserRef,
        channel: VoiceChannel | int,
        *,
        self_mute: bool = False,
        self_deaf: bool = False,
        suppress: bool | None = None,
    ) -> Json:
        """``user`` (a member, not the bot: the bot joins through op 4) joins or switches to
        the voice channel: VOICE_STATE_UPDATE, and the state shows in later GUILD_CREATEs.
        In a Stage they join suppressed (audience) unless ``suppress`` says otherwise.
        PermissionError if they lack View Channel/Connect or the channel is full."""
        voice_channel = self._voice_channel(channel)
        member = self._member(user, voice_channel.guild)
        if member.id == self._state.bot.id:
            raise ValueError("the bot joins voice itself (gateway op 4)")
        problem = self._voice.world.refusal(member, voice_channel, voice_channel.guild)
        if problem is not None:
            raise PermissionError(problem)
        state = self._voice.world.join(
            member, voice_channel, self_mute=self_mute, self_deaf=self_deaf, suppress=suppress
        )
        await self._flush()
        return state.to_wire()

    async def leave_voice(self, user: UserRef, guild: Guild) -> None:
        """``user`` leaves voice by themselves (VOICE_STATE_UPDATE, ``channel_id: null``)."""
        member = self._member(user, guild)
        if member.id == self._state.bot.id:
            raise ValueError(
                "the bot leaves voice itself (gateway op 4); see "
                "disconnect_member_from_voice for a moderator's kick"
            )
        self._voice.world.leave(member)
        await self._flush()

    async def disconnect_member_from_voice(self, user: UserRef, guild: Guild) -> None:
        """A moderator disconnects ``user`` (a member or the bot, ``double.bot_user``) from
        voice: VOICE_STATE_UPDATE ``channel_id: null``; for the bot its voice websocket then
        closes with 4014 and discord.py gives up the connection."""
        await self._voice.world.disconnect(self._member(user, guild))

    async def move_member(self, user: UserRef, channel: VoiceChannel | int) -> None:
        """A moderator moves ``user`` (who must be in voice; the bot too) to ``channel``:
        VOICE_STATE_UPDATE; for the bot also VOICE_SERVER_UPDATE with a new token, on which
        discord.py reconnects its voice websocket to the new channel."""
        voice_channel = self._voice_channel(channel)
        self._voice.world.move(self._member(user, voice_channel.guild), voice_channel)
        await self._flush()

    async def set_voice_state(self, user: UserRef, guild: Guild, **changes: object) -> Json:
        """A moderator (or Discord) changes ``user``'s voice state fields: ``suppress``
        (inviting someone to speak on a Stage is ``suppress=False``),
        ``request_to_speak_timestamp``, ``mute``, ``deaf``, ``self_mute``, ``self_deaf``.
        Dispatches VOICE_STATE_UPDATE."""
        state = self._voice.world.update(self._member(user, guild), **changes)
        await self._flush()
        return state.to_wire()

    def voice_state(self, user: UserRef, guild: Guild) -> Json | None:
        """``user``'s voice state (wire form) or None when not in voice."""
        member = self._member(user, guild)
        found = guild.voice_states.get(member.id)
        return None if found is None else found.to_wire()

    def voice_members(self, channel: VoiceChannel | int) -> list[int]:
        """Ids of everyone in the voice channel (the bot included), in join order."""
        voice_channel = self._voice_channel(channel)
        return [
            user_id
            for user_id, state in voice_channel.guild.voice_states.items()
            if state.channel is voice_channel
        ]

    def stage_instance(self, channel: VoiceChannel | int) -> Json | None:
        """The Stage's live instance (wire form) or None."""
        voice_channel = self._voice_channel(channel)
        found = voice_channel.guild.stage_instances.get(voice_channel.id)
        return None if found is None else found.to_wire()

    def _voice_channel(self, channel: VoiceChannel | Channel | int) -> VoiceChannel:
        found = self._state.channels[channel] if isinstance(channel, int) else channel
        if not isinstance(found, VoiceChannel):
            raise ValueError(f"channel {found.id} is not a voice or Stage channel")
        return found
