"""The Discord double's voice server, proven with the real discord.py client (voice gateway v8,
UDP, Opus via libopus, PyNaCl; davey installed but DAVE off) running in-process against it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import discord
import numpy as np
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from tests.fakes.discord_double import DiscordDouble, Guild, Member, Permission
from tests.fakes.discord_double.voice import OPUS_SILENCE, VoiceFrame
from tests.fakes.discord_double.voice_model import STAGE_MODERATOR, VoiceChannel
from tests.fakes.discord_double.voice_udp import (
    AES_GCM,
    XCHACHA,
    decrypt_rtpsize,
    encrypt_rtpsize,
)

SAMPLE_RATE = 48_000
FRAME_SECONDS = 0.02
PITCH = 440.0


class SineSource(discord.AudioSource):
    """``seconds`` of a stereo sine as 20 ms PCM frames (3,840 bytes each), then the end."""

    def __init__(self, frequency: float, seconds: float, amplitude: float = 0.5) -> None:
        self.frames = round(seconds / FRAME_SECONDS)
        self.frequency = frequency
        self.amplitude = amplitude
        self.sent = 0

    def read(self) -> bytes:
        if self.sent >= self.frames:
            return b""
        samples = round(SAMPLE_RATE * FRAME_SECONDS)
        t = (np.arange(samples) + self.sent * samples) / SAMPLE_RATE
        wave = (self.amplitude * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        self.sent += 1
        return np.repeat(wave, 2).tobytes()  # interleaved L/R

    def is_opus(self) -> bool:
        return False


class VoiceBot(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.voice_states = True
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.ready = asyncio.Event()
        self.voice_updates: asyncio.Queue[tuple[discord.Member, discord.VoiceState]] = (
            asyncio.Queue()
        )

    async def on_ready(self) -> None:
        self.ready.set()

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        self.voice_updates.put_nowait((member, after))


@dataclass
class Scene:
    double: DiscordDouble
    guild: Guild
    voice: VoiceChannel
    lounge: VoiceChannel
    stage: VoiceChannel
    alice: Member
    bot: VoiceBot

    def channel(self, channel: VoiceChannel) -> discord.VoiceChannel | discord.StageChannel:
        found = self.bot.get_channel(channel.id)
        assert isinstance(found, discord.VoiceChannel | discord.StageChannel)
        return found

    @property
    def guild_view(self) -> discord.Guild:
        found = self.bot.get_guild(self.guild.id)
        assert found is not None
        return found


@contextlib.contextmanager
def redirected(double: DiscordDouble) -> Iterator[None]:
    old_base, old_gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = double.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest.fixture
async def scene() -> AsyncIterator[Scene]:
    async with DiscordDouble() as double:
        guild = double.add_guild("Rap Club")
        voice = double.add_voice_channel(guild, "Cypher")
        lounge = double.add_voice_channel(guild, "Lounge")
        stage = double.add_voice_channel(guild, "Main Stage", stage=True)
        alice = guild.add_member("alice")
        bot = VoiceBot()
        with redirected(double):
            runner = asyncio.create_task(bot.start(double.token))
            await asyncio.wait_for(bot.ready.wait(), 10)
            try:
                yield Scene(double, guild, voice, lounge, stage, alice, bot)
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(runner, 5)
        assert double.violations == []
        assert double.voice.violations == []


async def finish(
    voice_client: discord.VoiceClient, source: discord.AudioSource, *, timeout: float = 30
) -> None:
    """Play ``source`` to the end."""
    done = asyncio.get_running_loop().create_future()

    def after(error: Exception | None) -> None:
        done.get_loop().call_soon_threadsafe(done.set_result, error)

    voice_client.play(source, after=after)
    error = await asyncio.wait_for(done, timeout)
    assert error is None


def dominant_frequency(samples: np.ndarray) -> float:
    mono = samples.astype(np.float64).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


def audio(frames: list[VoiceFrame]) -> list[VoiceFrame]:
    return [f for f in frames if not f.silence]


# -- connecting, playing, leaving ---------------------------------------------------------


async def test_bot_plays_a_sine_that_arrives_at_pace_and_pitch(scene: Scene) -> None:
    double, guild = scene.double, scene.guild
    vc = await scene.channel(scene.voice).connect()
    connection = await double.voice.wait_connected(guild.id, channel_id=scene.voice.id)
    assert connection.mode == XCHACHA  # discord.py 2.7 skips AES-GCM, which ready lists first
    assert connection.session_id == double.sessions[0].id
    assert [d.ssrc for d in double.voice.ip_discoveries] == [connection.ssrc]
    assert double.voice.identifies[0]["max_dave_protocol_version"] == 1  # davey is installed
    assert vc._connection.dave_protocol_version == 0  # and DAVE stays off
    assert vc._connection.dave_session is None
    assert double.voice_members(scene.voice) == [double.bot_user.id]

    await finish(vc, SineSource(PITCH, seconds=2.0))
    await double.voice.wait_speaking(scene.voice.id, active=False)

    frames = await double.voice.wait_frames(scene.voice.id, 100)
    assert len(frames) == 100
    assert [f.sequence for f in frames] == list(range(frames[0].sequence, frames[0].sequence + 100))
    assert all(b.timestamp - a.timestamp == 960 for a, b in itertools.pairwise(frames))
    rate = (len(frames) - 1) / (frames[-1].at - frames[0].at)
    assert rate == pytest.approx(50, rel=0.02)  # 20 ms Opus frames: 50 a second
    everything = await double.voice.wait_frames(scene.voice.id, 105, include_silence=True)
    silence = everything[100:]  # discord.py ends with five silence frames
    assert len(silence) == 5 and all(f.opus == OPUS_SILENCE for f in silence)

    pcm = double.voice.pcm(scene.voice.id, include_silence=False)
    assert pcm.dtype == np.int16 and pcm.shape == (100 * 960, 2)
    assert dominant_frequency(pcm[4800:]) == pytest.approx(PITCH, abs=1.0)
    assert 0.3 < np.abs(pcm[4800:]).max() / 32767 < 0.7
    # Not speaking after the handshake (it announces the ssrc), speaking, then not.
    assert [s.speaking for s in double.voice.speaking(scene.voice.id)] == [0, 1, 0]

    await vc.disconnect()
    await double.voice.wait_disconnected(guild.id)
    assert double.voice_members(scene.voice) == []
    assert double.voice.state_updates[-1]["channel_id"] is None
    assert guild.voice_states == {}


async def test_the_bot_sees_members_in_voice_and_can_follow_one(scene: Scene) -> None:
    double = scene.double
    await double.join_voice(scene.alice, scene.lounge)
    member, after = await asyncio.wait_for(scene.bot.voice_updates.get(), 5)
    assert member.id == scene.alice.id and after.channel is not None
    assert after.channel.id == scene.lounge.id

    vc = await after.channel.connect()  # follows alice
    await double.voice.wait_connected(scene.guild.id, channel_id=scene.lounge.id)
    assert set(double.voice_members(scene.lounge)) == {scene.alice.id, double.bot_user.id}
    assert set(scene.channel(scene.lounge).voice_states) == {scene.alice.id, double.bot_user.id}

    await double.leave_voice(scene.alice, scene.guild)
    member, after = await asyncio.wait_for(scene.bot.voice_updates.get(), 5)
    while member.id != scene.alice.id:
        member, after = await asyncio.wait_for(scene.bot.voice_updates.get(), 5)
    assert after.channel is None
    await vc.disconnect()


async def test_guild_create_carries_voice_states() -> None:
    async with DiscordDouble() as double:
        guild = double.add_guild("Rap Club")
        voice = double.add_voice_channel(guild, "Cypher")
        bob = guild.add_member("bob")
        await double.join_voice(bob, voice, self_mute=True)
        bot = VoiceBot()
        with redirected(double):
            runner = asyncio.create_task(bot.start(double.token))
            try:
                await asyncio.wait_for(bot.ready.wait(), 10)
                channel = bot.get_channel(voice.id)
                assert isinstance(channel, discord.VoiceChannel)
                assert list(channel.voice_states) == [bob.id]
                assert channel.voice_states[bob.id].self_mute is True
            finally:
                await bot.close()
                await asyncio.wait_for(runner, 5)


async def test_joining_without_connect_is_ignored_like_discord_does(scene: Scene) -> None:
    double = scene.double
    double.revoke(scene.voice, Permission.CONNECT)
    view = scene.channel(scene.voice)
    with pytest.raises(asyncio.TimeoutError):
        await view.connect(timeout=1.0, reconnect=False)
    assert double.voice.connection(scene.guild.id) is None
    assert "lacks View Channel/Connect" in double.voice.refusals[0]
    booth = double.add_voice_channel(scene.guild, "Booth", user_limit=1)
    await double.join_voice(scene.alice, booth)
    with pytest.raises(PermissionError, match="full"):
        await double.join_voice(scene.guild.add_member("carol"), booth)


# -- moderators ---------------------------------------------------------------------------


async def test_a_moderator_disconnect_ends_the_bots_connection(scene: Scene) -> None:
    double = scene.double
    vc = await scene.channel(scene.voice).connect()
    await double.voice.wait_connected(scene.guild.id)
    await double.disconnect_member_from_voice(double.bot_user, scene.guild)
    await double.voice.wait_disconnected(scene.guild.id)
    for _ in range(100):
        if not vc.is_connected() and scene.guild_view.voice_client is None:
            break
        await asyncio.sleep(0.05)
    assert not vc.is_connected()
    assert scene.guild_view.voice_client is None
    # discord.py hangs up first (op 4 null, close 1000), before the server's 4014.
    assert double.voice.state_updates[-1]["channel_id"] is None


async def test_a_moderator_move_reconnects_the_bot_in_the_new_channel(scene: Scene) -> None:
    double = scene.double
    vc = await scene.channel(scene.voice).connect()
    await double.voice.wait_connected(scene.guild.id)
    await double.move_member(double.bot_user, scene.lounge)
    connection = await double.voice.wait_connected(scene.guild.id, channel_id=scene.lounge.id)
    assert connection.identifies == 2
    for _ in range(100):
        if vc.is_connected() and vc.channel.id == scene.lounge.id:
            break
        await asyncio.sleep(0.05)
    assert vc.channel.id == scene.lounge.id
    await finish(vc, SineSource(PITCH, seconds=0.2))
    assert len(audio(await double.voice.wait_frames(scene.lounge.id, 10))) == 10
    await vc.disconnect()


# -- Stage --------------------------------------------------------------------------------


async def test_stage_speaking_and_instance_topics(scene: Scene) -> None:
    double, guild = scene.double, scene.guild
    double.grant(scene.stage, STAGE_MODERATOR)
    stage = scene.channel(scene.stage)
    assert isinstance(stage, discord.StageChannel)
    vc = await stage.connect()
    connection = await double.voice.wait_connected(guild.id, channel_id=scene.stage.id)
    assert connection.suppress is True  # everyone joins a Stage as audience

    instance = await stage.create_instance(topic="qwen-max vs grok")
    assert double.stage_instance(scene.stage)["topic"] == "qwen-max vs grok"
    await scene.guild_view.me.edit(suppress=False)
    assert double.voice.connection(guild.id).suppress is False
    await instance.edit(topic="Round 2")
    await finish(vc, SineSource(PITCH, seconds=0.4))
    assert len(audio(await double.voice.wait_frames(scene.stage.id, 20))) == 20
    await instance.delete()
    assert double.voice.stage_topics(scene.stage.id) == ["qwen-max vs grok", "Round 2"]
    assert double.stage_instance(scene.stage) is None
    await vc.disconnect()


async def test_stage_without_mute_members_can_only_request_to_speak(scene: Scene) -> None:
    double, guild = scene.double, scene.guild
    stage = scene.channel(scene.stage)
    assert isinstance(stage, discord.StageChannel)
    vc = await stage.connect()
    await double.voice.wait_connected(guild.id)
    me = scene.guild_view.me
    with pytest.raises(discord.Forbidden):
        await me.edit(suppress=False)
    with pytest.raises(discord.Forbidden):
        await stage.create_instance(topic="no moderator")
    await me.request_to_speak()
    assert double.voice.connection(guild.id).request_to_speak_timestamp is not None
    await double.set_voice_state(double.bot_user, guild, suppress=False)  # a moderator accepts
    for _ in range(100):
        if me.voice is not None and not me.voice.suppress:
            break
        await asyncio.sleep(0.02)
    assert me.voice is not None and me.voice.suppress is False
    await vc.disconnect()


# -- faults -------------------------------------------------------------------------------


async def test_abnormal_close_1006_mid_play_reconnects_and_playback_goes_on(
    scene: Scene,
) -> None:
    """discord.py leaves (op 4 null), joins again and identifies afresh. Its UDP reader
    thread would sit up to 30 s in a select() on the socket it closed (see voice.py); an
    RTCP receiver report from the server wakes it first, so the reconnect is quick."""
    double = scene.double
    vc = await scene.channel(scene.voice).connect(timeout=10)
    first = await double.voice.wait_connected(scene.guild.id)
    play = asyncio.create_task(finish(vc, SineSource(PITCH, seconds=3.0)))
    await double.voice.wait_frames(scene.voice.id, 25)
    double.voice.send_receiver_report(scene.guild.id)
    await asyncio.sleep(0.05)
    await double.voice.drop_websocket(scene.guild.id, code=1006)
    second = await double.voice.wait_reconnected(scene.guild.id, first, timeout=8)
    await play
    assert len(double.voice.identifies) == 2 and second.ssrc != first.ssrc
    assert 1006 in double.voice.close_codes
    assert [u["channel_id"] for u in double.voice.state_updates[-2:]] == [None, scene.voice.id]
    frames = audio(double.voice.frames(scene.voice.id))
    before = [f for f in frames if f.ssrc == first.ssrc]
    after = [f for f in frames if f.ssrc == second.ssrc]
    assert len(before) >= 25 and after  # playback went on after the reconnect
    assert len(before) + len(after) <= 150
    assert vc.is_connected()
    await vc.disconnect()


async def test_close_4015_makes_discord_py_rejoin_and_then_give_up(scene: Scene) -> None:
    """On 4015 discord.py 2.7 sends op 4 again and waits for VOICE_SERVER_UPDATE *then*
    VOICE_STATE_UPDATE before resuming; Discord (and the double) send the state first, so
    it times out (its connect timeout) and disconnects without ever sending op 7."""
    double = scene.double
    vc = await scene.channel(scene.voice).connect(timeout=2.0)
    await double.voice.wait_connected(scene.guild.id)
    await double.voice.drop_websocket(scene.guild.id, code=4015)
    await double.voice.wait_disconnected(scene.guild.id, timeout=15)
    updates = [u["channel_id"] for u in double.voice.state_updates]
    assert updates == [scene.voice.id, scene.voice.id, None]
    assert double.voice.resumes == []
    assert not vc.is_connected()


async def test_close_4014_without_a_new_server_disconnects_the_bot(scene: Scene) -> None:
    double = scene.double
    vc = await scene.channel(scene.voice).connect(timeout=2.0)
    await double.voice.wait_connected(scene.guild.id)
    await double.voice.drop_websocket(scene.guild.id, code=4014)
    await double.voice.wait_disconnected(scene.guild.id, timeout=10)  # it sends op 4 null
    assert not vc.is_connected()


# -- the protocol itself -----------------------------------------------------------------


async def test_ip_discovery_answers_in_the_74_byte_format(scene: Scene) -> None:
    double = scene.double
    vc = await scene.channel(scene.voice).connect()
    connection = await double.voice.wait_connected(scene.guild.id)
    host, port = double.voice.udp_address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        udp.bind(("127.0.0.1", 0))
        request = bytearray(74)
        struct.pack_into(">HHI", request, 0, 1, 70, connection.ssrc)
        udp.sendto(bytes(request), (host, port))
        answer = await asyncio.to_thread(udp.recv, 100)
        own_port = udp.getsockname()[1]
    assert len(answer) == 74
    assert struct.unpack_from(">HHI", answer, 0) == (2, 70, connection.ssrc)
    assert answer[8:].split(b"\0", 1)[0] == b"127.0.0.1"
    assert struct.unpack_from(">H", answer, 72)[0] == own_port
    await vc.disconnect()


@pytest.mark.parametrize("mode", [XCHACHA, AES_GCM])
def test_rtpsize_decryption_round_trips_and_rejects_a_wrong_key(mode: str) -> None:
    key = bytes(range(32))
    header = struct.pack(">BBHII", 0x80, 0x78, 7, 960, 1234)
    packet = encrypt_rtpsize(header, b"opus-bytes", mode, key, nonce=5)
    assert decrypt_rtpsize(packet, mode, key) == (b"opus-bytes", 5)
    with pytest.raises(ValueError, match="does not decrypt"):
        decrypt_rtpsize(packet, mode, bytes(32))
    # An extension (X bit): its 4-byte preamble is authenticated, its body encrypted.
    extended = struct.pack(">BBHII", 0x90, 0x78, 8, 1920, 1234) + b"\xbe\xde\x00\x01"
    sealed = encrypt_rtpsize(extended, b"\x00" * 4 + b"opus", mode, key, nonce=6)
    assert decrypt_rtpsize(sealed, mode, key) == (b"opus", 6)


async def test_voice_websocket_heartbeats_seq_and_refusals(scene: Scene) -> None:
    """A hand-written client: hello, heartbeat ACK echoing the nonce (v8), wrong token."""
    double = scene.double
    vc = await scene.channel(scene.voice).connect()
    connection = await double.voice.wait_connected(scene.guild.id)
    ssl_context = double.voice._ws.tls.client_context()
    url = f"wss://{double.voice.endpoint}/?v=8"
    async with aiohttp.ClientSession() as http, http.ws_connect(url, ssl=ssl_context) as ws:
        hello = await ws.receive_json(timeout=2)
        assert hello["op"] == 8 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_str(json.dumps({"op": 3, "d": {"t": 1234, "seq_ack": -1}}))
        assert await ws.receive_json(timeout=2) == {"op": 6, "d": {"t": 1234}}
        await ws.send_str(json.dumps({"op": 1, "d": {"protocol": "udp"}}))
        closed = await ws.receive(timeout=2)
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4003
    async with aiohttp.ClientSession() as http, http.ws_connect(url, ssl=ssl_context) as ws:
        await ws.receive_json(timeout=2)
        identify = {
            "server_id": str(scene.guild.id),
            "user_id": str(double.bot_user.id),
            "session_id": connection.session_id,
            "token": "wrong",
            "max_dave_protocol_version": 0,
        }
        await ws.send_str(json.dumps({"op": 0, "d": identify}))
        closed = await ws.receive(timeout=2)
        assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 4004
    assert vc.is_connected()  # the bot's own connection is untouched
    await vc.disconnect()


async def test_resume_replays_what_the_client_missed_then_says_resumed(scene: Scene) -> None:
    """A hand-written v8 client on a grant made directly (no bot): identify, select protocol,
    lose the socket, resume with seq_ack 1: the session description (seq 2) comes again,
    then RESUMED (op 9)."""
    double, guild = scene.double, scene.guild
    bot_id = double.bot_user.id
    token = double._voice.websocket.issue(guild.id, bot_id, "raw-session", scene.voice.id)
    ssl_context = double.voice._ws.tls.client_context()
    url = f"wss://{double.voice.endpoint}/?v=8"
    base = {"server_id": str(guild.id), "session_id": "raw-session", "token": token}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, ssl=ssl_context) as ws:
            await ws.receive_json(timeout=2)  # hello
            identify = {**base, "user_id": str(bot_id), "max_dave_protocol_version": 0}
            await ws.send_str(json.dumps({"op": 0, "d": identify}))
            ready = await ws.receive_json(timeout=2)
            assert ready["op"] == 2 and ready["seq"] == 1
            assert ready["d"]["modes"] == [AES_GCM, XCHACHA]
            select = {"address": "127.0.0.1", "port": 9, "mode": AES_GCM}
            await ws.send_str(json.dumps({"op": 1, "d": {"protocol": "udp", "data": select}}))
            description = await ws.receive_json(timeout=2)
            assert description["op"] == 4 and description["seq"] == 2
            assert description["d"]["mode"] == AES_GCM
            assert len(description["d"]["secret_key"]) == 32
            assert description["d"]["dave_protocol_version"] == 0
        async with http.ws_connect(url, ssl=ssl_context) as ws:
            await ws.receive_json(timeout=2)  # hello
            await ws.send_str(json.dumps({"op": 7, "d": {**base, "seq_ack": 1}}))
            assert await ws.receive_json(timeout=2) == description
            assert (await ws.receive_json(timeout=2))["op"] == 9
            session = double.voice.session(guild.id)
            assert session is not None and session.resumes == 1
            await ws.send_str(json.dumps({"op": 5, "d": {"speaking": 1, "delay": 0, "ssrc": 1}}))
    await asyncio.sleep(0.05)
    assert double.voice.violations == [
        f"voice websocket: speaking with ssrc 1 (the session's is {ready['d']['ssrc']})"
    ]
    double.voice.violations.clear()


async def test_permissions_in_voice_channels_match_discord_py(scene: Scene) -> None:
    """The double computes the bot's permissions in voice and Stage channels as discord.py
    does (voice permissions only where it can connect; none in text channels)."""
    double = scene.double
    muted = double.add_voice_channel(scene.guild, "No entry")
    double.revoke(muted, Permission.CONNECT)
    await double.wait_ready()
    for _ in range(100):  # until the client applied CHANNEL_CREATE and CHANNEL_UPDATE
        view = scene.bot.get_channel(muted.id)
        if isinstance(view, discord.VoiceChannel) and view.overwrites:
            break
        await asyncio.sleep(0.02)
    me = scene.guild_view.me
    bot_member = scene.guild.bot_member
    for channel in (scene.voice, scene.stage, muted):
        computed = scene.channel(channel).permissions_for(me).value
        assert computed == channel.permissions_for(bot_member), channel.name
    assert channel.permissions_for(bot_member) & Permission.SPEAK == 0
    assert scene.voice.permissions_for(bot_member) & Permission.SPEAK


async def test_a_bot_in_a_subprocess_trusts_the_voice_server_through_ssl_cert_file(
    scene: Scene,
) -> None:
    """Out of process there is no shared SSL context to extend: ``SSL_CERT_FILE`` does it."""
    script = (
        "import asyncio, aiohttp, sys\n"
        "async def main():\n"
        "    async with aiohttp.ClientSession() as http:\n"
        "        async with http.ws_connect(sys.argv[1]) as ws:\n"
        "            print((await ws.receive_json(timeout=5))['op'])\n"
        "asyncio.run(main())\n"
    )
    url = f"wss://{scene.double.voice.endpoint}/?v=8"
    env = {"SSL_CERT_FILE": scene.double.voice.ca_file, "PATH": "/usr/bin:/bin"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()[-500:]
    assert out.decode().strip() == "8"  # hello
