"""Voice entities: voice and Stage channels, voice states, stage instances (wire forms)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import VOICE_ONLY_PERMISSIONS, Channel, ChannelType, Json, Member, Permission

#: Stage moderators: what managing a Stage (its instance, others' speaking) needs.
STAGE_MODERATOR = Permission.MANAGE_CHANNELS | Permission.MUTE_MEMBERS | Permission.MOVE_MEMBERS
MAX_STAGE_TOPIC = 120
MANAGE_ROLES = 1 << 28


@dataclass(eq=False)
class VoiceChannel(Channel):
    """A voice channel (type 2) or, with ``stage``, a Stage channel (type 13)."""

    stage: bool = False
    bitrate: int = 64_000
    user_limit: int = 0  # 0: no limit
    rtc_region: str | None = None

    @property
    def type(self) -> ChannelType:
        return ChannelType.GUILD_STAGE_VOICE if self.stage else ChannelType.GUILD_VOICE

    def implicitly_denied(self, permissions: int) -> int:
        """Without Connect a voice channel also denies the voice permissions and Manage
        Channels/Roles (as discord.py computes it)."""
        if permissions & Permission.CONNECT:
            return 0
        return VOICE_ONLY_PERMISSIONS | Permission.MANAGE_CHANNELS | MANAGE_ROLES

    def to_wire(self) -> Json:
        data = super().to_wire()
        for text_only in ("default_auto_archive_duration", "default_thread_rate_limit_per_user"):
            data.pop(text_only, None)
        data.update(
            type=int(self.type),
            bitrate=self.bitrate,
            user_limit=self.user_limit,
            rtc_region=self.rtc_region,
        )
        if not self.stage:
            data["video_quality_mode"] = 1
        return data


@dataclass(eq=False)
class VoiceState:
    """A member's voice state in a guild (the bot's ``session_id`` is its gateway session)."""

    member: Member = field(repr=False)
    channel: VoiceChannel
    session_id: str
    self_mute: bool = False
    self_deaf: bool = False
    mute: bool = False
    deaf: bool = False
    suppress: bool = False
    request_to_speak_timestamp: str | None = None

    def to_wire(self, *, with_guild: bool = True) -> Json:
        data: Json = {
            "channel_id": str(self.channel.id),
            "user_id": str(self.member.id),
            "session_id": self.session_id,
            "deaf": self.deaf,
            "mute": self.mute,
            "self_deaf": self.self_deaf,
            "self_mute": self.self_mute,
            "self_video": False,
            "suppress": self.suppress,
            "request_to_speak_timestamp": self.request_to_speak_timestamp,
        }
        if with_guild:  # GUILD_CREATE's voice_states lack guild_id (and member)
            data["guild_id"] = str(self.member.guild.id)
            data["member"] = self.member.to_wire()
        return data


def left_voice(member: Member, session_id: str) -> Json:
    """VOICE_STATE_UPDATE of a member who left voice (``channel_id: null``)."""
    return {
        "guild_id": str(member.guild.id),
        "channel_id": None,
        "user_id": str(member.id),
        "member": member.to_wire(),
        "session_id": session_id,
        "deaf": False,
        "mute": False,
        "self_deaf": False,
        "self_mute": False,
        "self_video": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }


@dataclass(eq=False)
class StageInstance:
    id: int
    channel: VoiceChannel
    topic: str
    privacy_level: int = 2  # GUILD_ONLY (1, PUBLIC, is deprecated)
    guild_scheduled_event_id: int | None = None

    def to_wire(self) -> Json:
        return {
            "id": str(self.id),
            "guild_id": str(self.channel.guild.id),
            "channel_id": str(self.channel.id),
            "topic": self.topic,
            "privacy_level": self.privacy_level,
            "discoverable_disabled": True,
            "guild_scheduled_event_id": None
            if self.guild_scheduled_event_id is None
            else str(self.guild_scheduled_event_id),
        }
