"""REST routes for voice: voice states (Stage speaking) and stage instances.

Rules (Discord's docs, "Modify Current User Voice State" and "Stage Instance"):

* ``PATCH /guilds/{guild_id}/voice-states/@me``: ``channel_id`` must be the Stage the bot is
  in (else 400 50024 / 404 10065 Unknown Voice State when it is in none); ``suppress: false``
  needs Mute Members, a non-null ``request_to_speak_timestamp`` needs Request to Speak (403
  50013); suppressing oneself and clearing one's request always work. 204 and
  VOICE_STATE_UPDATE.
* ``PATCH /guilds/{guild_id}/voice-states/{user_id}``: a moderator (Mute Members) suppresses
  or unsuppresses someone in a Stage.
* ``POST /stage-instances``: the channel must be a Stage (400 50024), the bot a Stage
  moderator there (Manage Channels, Mute Members, Move Members; 403 50013), and the Stage
  without an instance (400 150006). ``GET/PATCH/DELETE /stage-instances/{channel_id}`` (404
  10067 Unknown Stage Instance when there is none; PATCH and DELETE need a moderator).
"""

from __future__ import annotations

from typing import Any

from .errors import (
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MEMBER,
    DiscordError,
    form_errors,
    unknown,
)
from .model import Guild, Json, Member, Permission
from .rest import NO_CONTENT, ApiRequest, Handler
from .state import State
from .voice import VoiceRecords
from .voice_model import MAX_STAGE_TOPIC, STAGE_MODERATOR, StageInstance, VoiceChannel, VoiceState
from .voice_world import VoiceWorld

UNKNOWN_VOICE_STATE = 10065, "Voice State"
UNKNOWN_STAGE_INSTANCE = 10067, "Stage Instance"


def wrong_channel_type() -> DiscordError:
    return DiscordError(400, 50024, "Cannot execute action on this channel type")


class VoiceRoutes:
    def __init__(self, *, state: State, world: VoiceWorld, records: VoiceRecords) -> None:
        self._state = state
        self._world = world
        self._records = records

    def routes(self) -> list[tuple[str, str, Handler, bool]]:
        states = "/guilds/{guild_id}/voice-states"
        instance = "/stage-instances/{channel_id}"
        return [
            ("GET", states + "/@me", self.get_my_voice_state, True),
            ("PATCH", states + "/@me", self.edit_my_voice_state, True),
            ("GET", states + "/{user_id}", self.get_voice_state, True),
            ("PATCH", states + "/{user_id}", self.edit_voice_state, True),
            ("POST", "/stage-instances", self.create_stage_instance, True),
            ("GET", instance, self.get_stage_instance, True),
            ("PATCH", instance, self.edit_stage_instance, True),
            ("DELETE", instance, self.delete_stage_instance, True),
        ]

    # -- lookups --------------------------------------------------------------------------

    def _guild(self, api: ApiRequest) -> Guild:
        guild = self._state.guilds.get(api.id("guild_id"))
        if guild is None:
            raise unknown(UNKNOWN_GUILD)
        return guild

    @staticmethod
    def _voice_state(member: Member) -> VoiceState:
        found = member.guild.voice_states.get(member.id)
        if found is None:
            raise unknown(UNKNOWN_VOICE_STATE)
        return found

    def _stage(self, channel_id: Any) -> VoiceChannel:
        try:
            channel = self._state.channels.get(int(channel_id))
        except (TypeError, ValueError):
            channel = None
        if channel is None:
            raise unknown(UNKNOWN_CHANNEL)
        if not isinstance(channel, VoiceChannel) or not channel.stage:
            raise wrong_channel_type()
        return channel

    def _moderate(self, channel: VoiceChannel, needed: int = STAGE_MODERATOR) -> None:
        permissions = channel.permissions_for(channel.guild.bot_member)
        if not permissions & Permission.VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        if permissions & needed != needed:
            raise DiscordError(403, 50013, "Missing Permissions")

    # -- voice states ---------------------------------------------------------------------

    async def get_my_voice_state(self, api: ApiRequest) -> Json:
        return self._voice_state(self._guild(api).bot_member).to_wire()

    async def get_voice_state(self, api: ApiRequest) -> Json:
        guild = self._guild(api)
        member = guild.members.get(api.id("user_id"))
        if member is None:
            raise unknown(UNKNOWN_MEMBER)
        return self._voice_state(member).to_wire()

    async def edit_my_voice_state(self, api: ApiRequest) -> object:
        me = self._guild(api).bot_member
        body = api.body()
        current = self._voice_state(me)
        if "channel_id" in body and body["channel_id"] is not None:
            if self._stage(body["channel_id"]) is not current.channel:
                raise wrong_channel_type()
        if not current.channel.stage:
            raise wrong_channel_type()
        changes: Json = {}
        if body.get("suppress") is not None:
            if body["suppress"] is False:
                self._moderate(current.channel, Permission.MUTE_MEMBERS)
            changes["suppress"] = body["suppress"]
        if "request_to_speak_timestamp" in body:
            if body["request_to_speak_timestamp"] is not None:
                self._moderate(current.channel, Permission.REQUEST_TO_SPEAK)
            changes["request_to_speak_timestamp"] = body["request_to_speak_timestamp"]
        self._world.update(me, **changes)
        return NO_CONTENT

    async def edit_voice_state(self, api: ApiRequest) -> object:
        guild = self._guild(api)
        member = guild.members.get(api.id("user_id"))
        if member is None:
            raise unknown(UNKNOWN_MEMBER)
        body = api.body()
        current = self._voice_state(member)
        if self._stage(body.get("channel_id")) is not current.channel:
            raise wrong_channel_type()
        self._moderate(current.channel, Permission.MUTE_MEMBERS)
        if body.get("suppress") is not None:
            self._world.update(member, suppress=body["suppress"])
        return NO_CONTENT

    # -- stage instances ------------------------------------------------------------------

    async def create_stage_instance(self, api: ApiRequest) -> Json:
        body = api.body()
        channel = self._stage(body.get("channel_id"))
        self._moderate(channel)
        guild = channel.guild
        if channel.id in guild.stage_instances:
            raise DiscordError(400, 150006, "The Stage is already open")
        topic = body.get("topic")
        if not isinstance(topic, str) or not 1 <= len(topic) <= MAX_STAGE_TOPIC:
            raise form_errors(
                [(["topic"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 120 in length.")]
            )
        instance = StageInstance(
            self._state.snowflakes.next(),
            channel,
            topic,
            privacy_level=body.get("privacy_level") or 2,
        )
        guild.stage_instances[channel.id] = instance
        self._records.stage_topics.setdefault(channel.id, []).append(instance.topic)
        self._state.emit("STAGE_INSTANCE_CREATE", instance.to_wire(), guild.id)
        return instance.to_wire()

    def _instance(self, api: ApiRequest) -> StageInstance:
        channel = self._state.channels.get(api.id("channel_id"))
        instance = None if channel is None else channel.guild.stage_instances.get(channel.id)
        if instance is None:
            raise unknown(UNKNOWN_STAGE_INSTANCE)
        return instance

    async def get_stage_instance(self, api: ApiRequest) -> Json:
        return self._instance(api).to_wire()

    async def edit_stage_instance(self, api: ApiRequest) -> Json:
        instance = self._instance(api)
        self._moderate(instance.channel)
        body = api.body()
        if "topic" in body:
            instance.topic = body["topic"]
            self._records.stage_topics.setdefault(instance.channel.id, []).append(instance.topic)
        if body.get("privacy_level") is not None:
            instance.privacy_level = body["privacy_level"]
        guild_id = instance.channel.guild.id
        self._state.emit("STAGE_INSTANCE_UPDATE", instance.to_wire(), guild_id)
        return instance.to_wire()

    async def delete_stage_instance(self, api: ApiRequest) -> object:
        instance = self._instance(api)
        self._moderate(instance.channel)
        guild = instance.channel.guild
        del guild.stage_instances[instance.channel.id]
        self._state.emit("STAGE_INSTANCE_DELETE", instance.to_wire(), guild.id)
        return NO_CONTENT
