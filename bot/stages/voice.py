"""Live battles in Discord's voice and Stage channels: the performance port over discord.py's
voice client, playing one ``LiveMix`` per battle (the beat with the speech queued on it).

The voice library sends a frame every 20 ms from its own thread, encoding it as Opus; it
reconnects by itself after a dropped voice websocket and pauses reading until it is back. This
adapter notices a loss (not connected, moved away, player stopped) at the next frame, cuts the
part that was playing so the performance picks up at the next turn, and leaves the decision of
what to do next (one rejoin, or text only) to ``bot/services/live/show.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import discord
import numpy as np

from bot.audio.live_mix import LiveMix
from bot.audio.tracks import beat_loop, speech_engine
from bot.engine.mixing import half_bar_seconds
from bot.services.live.performance import VoiceLost
from bot.services.live.shows import LiveShows
from bot.services.tracks.speech import TrackError
from bot.settings import Settings

log = logging.getLogger(__name__)

CONNECT_SECONDS = 10.0
# After a loss, how long the voice library is given to get back by itself before a new
# connection is made. (discord.py 2.7 can stall reconnecting: its socket reader may still wait
# on the old socket, so IP discovery's answer is never read. A new connection has its own.)
RECONNECTING_SECONDS = 3.0
RECONNECT_POLL_SECONDS = 0.05
PLAYER_STOP_SECONDS = 0.2  # a few frames: the player reads every 20 ms
# Opus at 64 kbit/s carries voices over a beat clearly. In-band FEC (discord.py's default, tuned
# for 15% loss) doubles the encoder's work per frame (measured: 0.40 ms against 0.15 ms) to guard
# against loss on the bot's own uplink, which a server's network rarely has: it is off.
BITRATE_KBPS = 64
FEC = False

VOICE_PERMISSIONS = (("view_channel", "View Channel"), ("connect", "Connect"), ("speak", "Speak"))
STAGE_PERMISSIONS = (("view_channel", "View Channel"), ("connect", "Connect"))
STAGE_SPEAKER = "Mute Members (or Request to Speak)"

Vocal = discord.VoiceChannel | discord.StageChannel


def live_channel(member: discord.abc.User, chosen: Vocal | None, follow: bool) -> Vocal | None:
    """Where a battle is performed: the channel its starter chose, else (with the server's
    ``voice`` setting on ``follow``) the voice or Stage channel the starter is in, else none."""
    if chosen is not None or not follow or not isinstance(member, discord.Member):
        return chosen
    state = member.voice
    channel = state.channel if state is not None else None
    return channel if isinstance(channel, discord.VoiceChannel | discord.StageChannel) else None


def missing_voice_permissions(channel: Vocal, permissions: discord.Permissions) -> tuple[str, ...]:
    """What performing in ``channel`` needs that ``permissions`` lacks, by name: Connect and
    Speak; in a Stage, Connect and a way to speak (Mute Members makes the bot a speaker at once,
    Request to Speak asks a moderator)."""
    if isinstance(channel, discord.StageChannel):
        missing = [name for attr, name in STAGE_PERMISSIONS if not getattr(permissions, attr)]
        if not (permissions.mute_members or permissions.request_to_speak):
            missing.append(STAGE_SPEAKER)
        return tuple(missing)
    return tuple(name for attr, name in VOICE_PERMISSIONS if not getattr(permissions, attr))


class _Source(discord.AudioSource):
    """The mix as discord.py reads it; it notices a lost connection at the frame it reads."""

    def __init__(self, performance: DiscordPerformance) -> None:
        self._performance = performance
        self.cpu_seconds = 0.0  # the audio thread's CPU time so far (mixing, Opus, sending)

    def read(self) -> bytes:
        self.cpu_seconds = time.thread_time()  # this source is read on one thread only
        self._performance.check_connection()
        return self._performance.mix.read()

    def is_opus(self) -> bool:
        return False


class DiscordPerformance:
    """One battle in one voice or Stage channel (the ``Performance`` port)."""

    def __init__(
        self, client: discord.Client, guild_id: int, channel_id: int, beat: np.ndarray | None
    ) -> None:
        self._client = client
        self._guild_id = guild_id
        self._channel_id = channel_id
        self.mix = LiveMix(beat)
        self._voice: discord.VoiceClient | None = None
        self._lost = False  # set by the audio thread when it notices a loss
        self._stage_topic: tuple[str | None, bool] | None = None  # (topic before, created)
        self._restarting: asyncio.Task[None] | None = None
        # For each part: seconds from say() (right after its post) to its first frame, and when
        # that frame was read (time.monotonic()).
        self.skews: list[float] = []
        self.starts: list[float] = []
        self._sources: list[_Source] = []  # one per audio thread this performance started

    @property
    def channel_id(self) -> int:
        return self._channel_id

    @property
    def connected(self) -> bool:
        """Connected and playing. A moderator who moved the bot is followed, not fought: it
        performs on where it was moved."""
        voice = self._voice
        return voice is not None and voice.is_connected() and voice.is_playing()

    async def join(self, topic: str) -> None:
        channel = self._channel()
        await self._connect(channel)
        if isinstance(channel, discord.StageChannel):
            await self._become_speaker(channel)
            await self._name_battle(channel, topic)

    def say(self, samples: np.ndarray) -> Awaitable[None]:
        if not self.connected:
            raise VoiceLost("not connected")
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        said_at = time.monotonic()

        def started() -> None:  # on the audio thread
            now = time.monotonic()
            self.starts.append(now)
            self.skews.append(now - said_at)

        def ended(played: bool) -> None:  # on the audio thread, or here when cut
            loop.call_soon_threadsafe(_settle, finished, played)

        self.mix.add(samples, started, ended)
        return finished

    async def rejoin(self) -> None:
        channel = self._channel()
        voice = self._voice
        if voice is not None and self._registered(voice):
            # The voice library reconnects by itself after a drop: give it a moment first.
            if await _until(voice.is_connected, RECONNECTING_SECONDS):
                if not voice.is_playing():
                    self._play(voice)
                if isinstance(voice.channel, discord.StageChannel):  # moved onto a Stage
                    await self._become_speaker(voice.channel)
                return
            _stop_reconnecting(voice)
            with contextlib.suppress(Exception):
                await voice.disconnect(force=True)
        self._voice = None
        await self._connect(channel)
        if isinstance(channel, discord.StageChannel):
            await self._become_speaker(channel)

    async def leave(self) -> None:
        self.mix.close()
        if self._restarting is not None:
            self._restarting.cancel()
        voice, self._voice = self._voice, None
        if voice is not None:
            # The player stops by itself at the closed mix's first empty read, after its last
            # frame is out; only then is speaking cleared, so it is never cleared mid-frame.
            await _until(lambda: not voice.is_playing(), PLAYER_STOP_SECONDS)
            voice.stop()
            with contextlib.suppress(Exception):  # said now, before the websocket closes
                await voice.ws.speak(discord.SpeakingState.none)
        channel = self._client.get_channel(self._channel_id)
        if isinstance(channel, discord.StageChannel):
            await self._restore_topic(channel)
        if voice is not None:
            try:
                await voice.disconnect(force=True)
            except Exception:
                log.exception("Disconnecting from voice channel %s failed", self._channel_id)

    # -- on the audio thread ---------------------------------------------------------------------

    def check_connection(self) -> None:
        """Cuts the part playing the first time a loss is noticed (the rest of it is dropped:
        the performance picks up at the next turn)."""
        voice = self._voice
        healthy = voice is not None and voice.is_connected()
        if healthy:
            self._lost = False
        elif not self._lost:
            self._lost = True
            self.mix.cut()

    def _stopped(self, error: Exception | None) -> None:
        """The player ended: left, disconnected by a moderator, failed, or gave up waiting
        while discord.py reconnected by itself (it does when its reconnect wakes it early)."""
        if error is not None:
            log.error("Voice player in %s failed", self._channel_id, exc_info=error)
        if not self.mix.closed:
            self._lost = True
            self.mix.cut()
            self._client.loop.call_soon_threadsafe(self._player_ended)

    def _player_ended(self) -> None:
        if self._restarting is None or self._restarting.done():
            self._restarting = asyncio.create_task(self._restart_player(), name="voice player")

    async def _restart_player(self) -> None:
        """Plays again once the voice library is back by itself, so the next turn is heard."""
        voice = self._voice
        if voice is None or not self._registered(voice):
            return  # disconnected for good: the show's one rejoin decides
        if await _until(voice.is_connected, RECONNECTING_SECONDS):
            if voice is self._voice and not voice.is_playing() and not self.mix.closed:
                with contextlib.suppress(VoiceLost):
                    self._play(voice)

    # -- inside ----------------------------------------------------------------------------------

    def _channel(self) -> Vocal:
        channel = self._client.get_channel(self._channel_id)
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            raise VoiceLost("the channel is gone")
        return channel

    def _registered(self, voice: discord.VoiceClient) -> bool:
        """Whether discord.py still keeps this voice client (a moderator's disconnect ends it)."""
        guild = self._client.get_guild(self._guild_id)
        return guild is not None and guild.voice_client is voice

    async def _connect(self, channel: Vocal) -> None:
        existing = channel.guild.voice_client
        if existing is not None and existing is not self._voice:
            raise VoiceLost("I am already in another voice channel of this server")
        try:
            voice = await channel.connect(timeout=CONNECT_SECONDS, reconnect=True, self_deaf=True)
        except (TimeoutError, discord.ClientException, discord.HTTPException, OSError) as error:
            raise VoiceLost(_reason(error, "could not connect")) from None
        self._voice = voice
        self._play(voice)

    @property
    def cpu_seconds(self) -> float:
        """CPU time the audio threads spent on this performance: each frame's mixing, Opus
        encoding, encryption and sending."""
        return sum(source.cpu_seconds for source in self._sources)

    def _play(self, voice: discord.VoiceClient) -> None:
        source = _Source(self)
        self._sources.append(source)
        try:
            voice.play(source, after=self._stopped, bitrate=BITRATE_KBPS, fec=FEC)
        except discord.opus.OpusNotLoaded:
            raise VoiceLost("Opus is not installed here (apt-get install libopus0)") from None
        except discord.ClientException as error:
            raise VoiceLost(_reason(error, "could not play")) from None

    async def _become_speaker(self, channel: discord.StageChannel) -> None:
        """A Stage's audience is muted: speak (with Mute Members) or ask to (Request to Speak)."""
        me = channel.guild.me
        try:
            if channel.permissions_for(me).mute_members:
                await me.edit(suppress=False)
            else:
                await me.request_to_speak()
        except discord.HTTPException as error:
            log.warning("Could not become a speaker on Stage %s: %s", channel.id, error)

    async def _name_battle(self, channel: discord.StageChannel, topic: str) -> None:
        """The Stage's topic names the battle while it runs (its own topic comes back after)."""
        try:
            instance = channel.instance or await _fetched_instance(channel)
            if instance is None:
                await channel.create_instance(topic=topic)
                self._stage_topic = (None, True)
            else:
                self._stage_topic = (instance.topic, False)
                await instance.edit(topic=topic)
        except discord.HTTPException as error:
            log.warning("Could not name the battle on Stage %s: %s", channel.id, error)

    async def _restore_topic(self, channel: discord.StageChannel) -> None:
        saved, self._stage_topic = self._stage_topic, None
        if saved is None:
            return
        before, created = saved
        try:
            instance = channel.instance or await _fetched_instance(channel)
            if instance is None:
                return
            if created:
                await instance.delete()
            elif before:
                await instance.edit(topic=before)
        except discord.HTTPException as error:
            log.warning("Could not give Stage %s its topic back: %s", channel.id, error)


class DiscordPerformances:
    """Performances in a client's voice channels, each over ``beat`` (None: no beat)."""

    def __init__(self, client: discord.Client, beat: np.ndarray | None) -> None:
        self._client = client
        self._beat = beat

    def performance_for(self, guild_id: int, channel_id: int) -> DiscordPerformance:
        return DiscordPerformance(self._client, guild_id, channel_id, self._beat)


def live_shows(client: discord.Client, settings: Settings) -> LiveShows | None:
    """The battles the client performs live, as the settings say (None with
    MAX_VOICE_BATTLES=0): the tracks' speech engine and beat, the tracks' half-bar gap."""
    if settings.max_voice_battles <= 0:
        return None
    try:
        beat = beat_loop(settings)
    except TrackError as error:
        log.warning("Live battles play without a beat: %s", error)
        beat = None
    return LiveShows(
        DiscordPerformances(client, beat),
        speech_engine(settings),
        most=settings.max_voice_battles,
        gap_seconds=half_bar_seconds(settings.beat_bpm),
    )


def _stop_reconnecting(voice: discord.VoiceClient) -> None:
    """Ends the voice library's own reconnect loop before a stalled client is let go.

    discord.py 2.7's disconnect() leaves that loop running: when its attempt times out it polls
    the closed websocket, reads close code 1000 and disconnects again, which tells the gateway
    the bot left voice and so cuts the new connection made in its place. There is no public way
    to stop it; the private task is reached defensively and left alone if it is not there."""
    runner = getattr(getattr(voice, "_connection", None), "_runner", None)
    if isinstance(runner, asyncio.Task) and not runner.done():
        runner.cancel()


async def _fetched_instance(channel: discord.StageChannel) -> discord.StageInstance | None:
    try:
        return await channel.fetch_instance()
    except discord.NotFound:
        return None


async def _until(check: Callable[[], bool], seconds: float) -> bool:
    """Whether ``check()`` holds within ``seconds`` (polled; the voice library has no event)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(RECONNECT_POLL_SECONDS)
    return True


def _settle(finished: asyncio.Future[None], played: bool) -> None:
    if finished.done():
        return
    if played:
        finished.set_result(None)
    else:
        finished.set_exception(VoiceLost("the voice connection was lost mid-part"))
        finished.exception()  # seen: a part nobody waits for any more is no error


def _reason(error: BaseException, default: str) -> str:
    if isinstance(error, discord.Forbidden):
        return "a permission is missing"
    return str(error).splitlines()[0] if str(error) else default
