"""Voice states in the double's world: the bot's op 4, members joining and leaving, and
moderators disconnecting, moving and (un)suppressing people. Emits VOICE_STATE_UPDATE and
VOICE_SERVER_UPDATE like Discord (see ``voice.py``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .model import Guild, Json, Member, Permission
from .state import State
from .voice import VoiceRecords
from .voice_model import VoiceChannel, VoiceState, left_voice
from .voice_ws import VoiceWebSocketServer

Flush = Callable[[], Awaitable[None]]


class VoiceWorld:
    def __init__(
        self,
        *,
        state: State,
        server: VoiceWebSocketServer,
        records: VoiceRecords,
        flush: Flush,
    ) -> None:
        self._state = state
        self._server = server
        self._records = records
        self._flush = flush
        self._tasks: set[asyncio.Task[None]] = set()

    def bot_state(self, guild_id: int) -> Json | None:
        guild = self._state.guilds.get(guild_id)
        found = None if guild is None else guild.voice_states.get(self._state.bot.id)
        return None if found is None else found.to_wire()

    # -- the bot's op 4 -------------------------------------------------------------------

    def on_voice_state_update(self, gateway_session_id: str, data: Json) -> None:
        """Op 4 from the bot's gateway session."""
        self._records.state_updates.append(dict(data))
        try:
            guild = self._state.guilds.get(int(data["guild_id"]))
        except (KeyError, TypeError, ValueError):
            guild = None
        if guild is None:
            self._records.refusals.append(f"op 4 for unknown guild {data.get('guild_id')!r}")
            return
        me = guild.bot_member
        if data.get("channel_id") is None:
            if me.id in guild.voice_states:
                self.leave(me)
                token = self._server.token(guild.id)
                self._later(self._server.revoke(guild.id, token=token))
            return
        channel = self._state.channels.get(int(data["channel_id"]))
        problem = self.refusal(me, channel, guild)
        if problem is not None:
            self._records.refusals.append(problem)
            return
        assert isinstance(channel, VoiceChannel)
        self.join(
            me,
            channel,
            session_id=gateway_session_id,
            self_mute=bool(data.get("self_mute")),
            self_deaf=bool(data.get("self_deaf")),
        )

    def refusal(self, member: Member, channel: Any, guild: Guild) -> str | None:
        """Why ``member`` may not join ``channel`` (None if it may)."""
        if not isinstance(channel, VoiceChannel) or channel.guild is not guild:
            where = getattr(channel, "id", None)
            return f"{member.name}: {where} is not a voice channel of {guild.name!r}"
        permissions = channel.permissions_for(member)
        needed = Permission.VIEW_CHANNEL | Permission.CONNECT
        if permissions & needed != needed:
            return f"{member.name} lacks View Channel/Connect in #{channel.name}"
        others = [
            s
            for s in guild.voice_states.values()
            if s.channel is channel and s.member is not member
        ]
        if (
            channel.user_limit
            and len(others) >= channel.user_limit
            and not permissions & Permission.MOVE_MEMBERS
        ):
            return f"#{channel.name} is full ({channel.user_limit})"
        return None

    # -- state changes ----------------------------------------------------------------------

    def join(
        self,
        member: Member,
        channel: VoiceChannel,
        *,
        session_id: str | None = None,
        self_mute: bool = False,
        self_deaf: bool = False,
        suppress: bool | None = None,
    ) -> VoiceState:
        """Put ``member`` in ``channel`` (VOICE_STATE_UPDATE; for the bot also a new voice
        token in VOICE_SERVER_UPDATE). In a Stage people join suppressed unless told."""
        guild = channel.guild
        current = guild.voice_states.get(member.id)
        if suppress is None:
            staying = current is not None and current.channel is channel
            suppress = current.suppress if staying and current else channel.stage
        voice_state = VoiceState(
            member,
            channel,
            session_id or (current.session_id if current else secrets.token_hex(16)),
            self_mute=self_mute,
            self_deaf=self_deaf,
            suppress=suppress,
            request_to_speak_timestamp=current.request_to_speak_timestamp
            if current is not None and current.channel is channel
            else None,
        )
        guild.voice_states[member.id] = voice_state
        self._state.emit("VOICE_STATE_UPDATE", voice_state.to_wire(), guild.id)
        if member.id == self._state.bot.id:
            token = self._server.issue(guild.id, member.id, voice_state.session_id, channel.id)
            self._state.emit(
                "VOICE_SERVER_UPDATE",
                {"token": token, "guild_id": str(guild.id), "endpoint": self._server.endpoint},
                guild.id,
            )
        return voice_state

    def leave(self, member: Member) -> None:
        """``member`` is no longer in voice (VOICE_STATE_UPDATE with ``channel_id: null``)."""
        guild = member.guild
        current = guild.voice_states.pop(member.id, None)
        if current is None:
            return
        self._state.emit("VOICE_STATE_UPDATE", left_voice(member, current.session_id), guild.id)

    async def disconnect(self, member: Member) -> None:
        """A moderator disconnects ``member``; the bot's voice websocket then closes (4014)."""
        if member.id not in member.guild.voice_states:
            raise ValueError(f"{member.name} is not in voice in {member.guild.name!r}")
        self.leave(member)
        await self._flush()
        if member.id == self._state.bot.id:
            await self._server.revoke(member.guild.id, code=4014)

    def move(self, member: Member, channel: VoiceChannel) -> None:
        """A moderator moves ``member`` (who must be in voice) to ``channel``."""
        current = channel.guild.voice_states.get(member.id)
        if current is None:
            raise ValueError(f"{member.name} is not in voice in {channel.guild.name!r}")
        self.join(
            member,
            channel,
            session_id=current.session_id,
            self_mute=current.self_mute,
            self_deaf=current.self_deaf,
        )

    def update(self, member: Member, **changes: Any) -> VoiceState:
        """Change fields of ``member``'s voice state (suppress, request_to_speak_timestamp,
        mute, deaf...) and dispatch VOICE_STATE_UPDATE."""
        current = member.guild.voice_states.get(member.id)
        if current is None:
            raise ValueError(f"{member.name} is not in voice in {member.guild.name!r}")
        for name, value in changes.items():
            setattr(current, name, value)
        self._state.emit("VOICE_STATE_UPDATE", current.to_wire(), member.guild.id)
        return current

    # -- background ------------------------------------------------------------------------

    def _later(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            await self._flush()
            await coroutine

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
