"""Discord voice in the double: voice and Stage channels, voice states, the voice server.

Faithful to https://discord.com/developers/docs/topics/voice-connections (voice gateway v8)
as discord.py 2.7.1 speaks it (``voice_state.py``, ``gateway.DiscordVoiceWebSocket``,
``voice_client.py``).

World (``double.add_voice_channel``, ``double.join_voice``...)
    Voice channels (type 2) and Stage channels (type 13) live in the guild like text channels
    and appear in GUILD_CREATE; members' voice states appear in GUILD_CREATE's
    ``voice_states`` and change through VOICE_STATE_UPDATE (intent GUILD_VOICE_STATES, 1 << 7),
    so a bot can follow a member. Joining needs View Channel and Connect (and room under the
    user limit, unless the joiner has Move Members); in a Stage everyone joins suppressed
    (audience).

Main gateway, op 4 (Voice State Update) from the bot
    ``{"guild_id", "channel_id", "self_mute", "self_deaf"}``: the double answers with
    VOICE_STATE_UPDATE (the bot's state, ``session_id`` = its gateway session) then
    VOICE_SERVER_UPDATE (``token``, ``guild_id``, ``endpoint`` = ``double.voice.endpoint``, i.e.
    ``127.0.0.1:PORT``); each op 4 that joins issues a fresh token. ``channel_id: null`` leaves
    (VOICE_STATE_UPDATE with ``channel_id: null``; a still-open voice websocket is closed with
    4014). A join the bot may not make (no Connect, channel full, not a voice channel) is
    ignored like Discord ignores it (the client times out) and recorded in
    ``double.voice.refusals``. A moderator's disconnect (``double.disconnect_member_from_voice``)
    sends the bot VOICE_STATE_UPDATE ``channel_id: null`` and then closes its voice websocket
    with 4014; a move (``double.move_member``) sends VOICE_STATE_UPDATE (new channel) and
    VOICE_SERVER_UPDATE (new token), on which discord.py closes its old voice websocket with
    4014 itself and connects again.

Stage (REST; all four routes are in Discord's OpenAPI description)
    ``PATCH /guilds/{guild_id}/voice-states/@me`` (``channel_id`` must be the Stage the bot is
    in; ``suppress: false`` needs Mute Members; setting ``request_to_speak_timestamp`` needs
    Request to Speak; suppressing oneself and clearing one's request always work) -> 204 and
    VOICE_STATE_UPDATE. ``POST /stage-instances`` (``topic`` 1-120 characters; one instance per
    Stage; needs Manage Channels, Mute Members and Move Members in the Stage),
    ``GET/PATCH/DELETE /stage-instances/{channel_id}``, with STAGE_INSTANCE_CREATE / _UPDATE /
    _DELETE; every topic set is recorded (``double.voice.stage_topics``).

Voice websocket (``wss://127.0.0.1:PORT/?v=8``)
    discord.py always connects with ``wss://``, so the voice server speaks TLS with a
    certificate for 127.0.0.1 made when the double starts. In-process clients trust it
    automatically (the double adds its CA to aiohttp's shared verified SSL context, which
    discord.py's connector uses); a bot in a subprocess gets ``SSL_CERT_FILE =
    double.voice.ca_file``. Ops: server hello (8, ``heartbeat_interval``); identify (0: server_id,
    user_id, session_id, token, max_dave_protocol_version) -> ready (2: ssrc, ip, port, modes);
    heartbeat (3: ``{"t": nonce, "seq_ack": n}``) -> heartbeat ACK (6: ``{"t": nonce}``);
    select protocol (1: protocol "udp", data {address, port, mode}) -> session description (4:
    mode, 32-byte ``secret_key``, ``dave_protocol_version: 0``); speaking (5) recorded; resume (7:
    server_id, session_id, token, seq_ack) -> resumed (9) after replaying what the client missed.
    Server messages after hello carry ``seq`` (v8's buffered resume). Wrong token or session:
    close 4004 / 4006; unknown op 4001; op before identify 4003; unknown mode 4016.

Encryption modes and DAVE
    Ready advertises Discord's current modes, ``aead_aes256_gcm_rtpsize`` then
    ``aead_xchacha20_poly1305_rtpsize``; discord.py 2.7 only implements the latter (it takes
    the first mode of the list that it supports), the double decrypts both. The double
    advertises no DAVE support: session description says ``dave_protocol_version: 0`` whatever
    the client's ``max_dave_protocol_version`` (discord.py with davey sends 1), so discord.py
    keeps its DAVE session off and sends transport-encrypted Opus only. A DAVE-enabled channel
    (not implemented) would add, on this websocket: the MLS handshake as binary frames
    (25 external sender, 26 key package, 27 proposals, 28 commit/welcome, 29 announce commit
    transition, 30 welcome, 31 invalid commit/welcome) and the transition ops (21 prepare
    transition, 22 execute transition, 23 transition ready, 24 prepare epoch); and, on UDP,
    a per-frame end-to-end encryption of each Opus payload (AES-128-GCM with the MLS-derived
    sender key, a truncated tag and a trailing 0xFAFA marker) inside the transport encryption.

UDP
    IP discovery: a 74-byte request (type 0x1, length 70, ssrc) gets a 74-byte response
    (type 0x2, length 70, ssrc, the sender's address NUL-padded, its port big-endian); recorded
    in ``double.voice.ip_discoveries``. RTP packets (version 2, payload type 0x78) are decrypted
    with the session's key and mode (``*_rtpsize``: the header up to the extension's 4-byte
    preamble is the AAD, a 32-bit nonce counter trails the packet) and kept as
    :class:`VoiceFrame` (arrival time, sequence, timestamp, ssrc, Opus bytes); Opus silence
    frames (``b"\\xf8\\xff\\xfe"``) are kept and marked. Packets that do not decrypt or parse are
    counted in ``double.voice.violations``.

Faults
    ``double.voice.drop_websocket(guild_id, code=...)``: 1006 aborts the TCP connection (no
    close frame, like a crashed server), other codes close with that code: 4015 ("voice server
    crashed": discord.py resumes with op 7), 4014 ("disconnected": discord.py reconnects
    if it is still in a channel, else it gives up), 4006 (session no longer valid).

discord.py 2.7 behaviours the double shows (worth knowing when testing a bot)
    * The bot needs the GUILD_VOICE_STATES intent (discord.py's docs require it): without
      it no VOICE_STATE_UPDATE is dispatched, not even its own, and connect() times out.
    * On a drop without a close frame (1006) discord.py leaves (op 4 null), joins again and
      identifies afresh; its UDP reader thread is still in a 30 s ``select()`` on the socket
      it closed, so the new IP discovery completes only when that times out: the reconnect
      takes up to ~30 s after the first connect. Give ``connect(timeout=...)`` room (the
      player waits that long for the reconnect before it aborts playback), or call
      ``double.voice.send_receiver_report(guild_id)`` once before the drop: any datagram
      to the client wakes that thread (on Discord others' audio and RTCP do).
    * On 4015 discord.py re-sends op 4 and waits for VOICE_SERVER_UPDATE then
      VOICE_STATE_UPDATE; Discord (and the double) send the state first, so it never
      reaches its op 7 resume: after its connect timeout it disconnects. (The double's op 7
      works for a client that sends it; see tests/test_voice_double.py.)
    * On a moderator's disconnect discord.py hangs up itself (op 4 null, close 1000) before
      the server's 4014 lands; on a move it reconnects within a second.

Test API
    On the double: ``add_voice_channel``, ``join_voice``, ``leave_voice``, ``move_member``,
    ``disconnect_member_from_voice``, ``set_voice_state``, ``voice_state``, ``voice_members``,
    ``stage_instance`` (voice_double.py). On ``double.voice`` (:class:`VoiceServer`, below):
    ``connection``, ``wait_connected``, ``wait_reconnected``, ``wait_disconnected``,
    ``wait_resumed``, ``frames``, ``wait_frames``, ``pcm``, ``speaking``, ``wait_speaking``,
    ``stage_topics``, ``drop_websocket``, ``send_receiver_report``, and the records
    ``ip_discoveries``, ``identifies``, ``resumes``, ``state_updates``, ``refusals``,
    ``violations``, ``close_codes``.

    async with DiscordDouble() as double:
        guild = double.add_guild("Rap Club")
        stage = double.add_voice_channel(guild, "Main Stage", stage=True)
        ...  # the bot runs `await stage_channel.connect()` and plays a source
        connection = await double.voice.wait_connected(guild.id)
        await double.voice.wait_frames(stage.id, 100)
        samples = double.voice.pcm(stage.id)  # int16, shape (n, 2), 48 kHz
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import Json, Notifier

if TYPE_CHECKING:
    import numpy as np

    from .voice_udp import VoiceUdp
    from .voice_ws import VoiceSession, VoiceWebSocketServer

#: The Opus frame Discord's clients send for 20 ms of silence.
OPUS_SILENCE = b"\xf8\xff\xfe"
SAMPLE_RATE = 48_000
CHANNELS = 2
FRAME_SAMPLES = 960  # 20 ms at 48 kHz


@dataclass(frozen=True)
class VoiceFrame:
    """One RTP packet the bot sent, decrypted: its Opus payload and RTP fields."""

    guild_id: int
    channel_id: int
    user_id: int
    ssrc: int
    sequence: int
    timestamp: int  # RTP timestamp (48 kHz units)
    opus: bytes
    at: float  # time.monotonic() of arrival
    mode: str  # the encryption mode it was decrypted with

    @property
    def silence(self) -> bool:
        """Whether this is an Opus silence frame (``b"\\xf8\\xff\\xfe"``)."""
        return self.opus == OPUS_SILENCE


@dataclass(frozen=True)
class SpeakingEvent:
    """A voice op 5 (Speaking) the bot sent: ``speaking`` is the flags (1 microphone, 2
    soundshare, 4 priority; 0 stopped)."""

    guild_id: int
    channel_id: int
    user_id: int
    ssrc: int
    speaking: int
    delay: int
    at: float  # time.monotonic()

    @property
    def active(self) -> bool:
        return self.speaking != 0


@dataclass(frozen=True)
class IpDiscovery:
    """An answered UDP IP discovery request."""

    ssrc: int
    address: str
    port: int
    at: float


@dataclass(frozen=True)
class VoiceConnection:
    """The bot's voice connection in one guild, as the double sees it.

    ``channel_id`` comes from the bot's voice state (op 4); the rest from the voice server:
    ``websocket`` is whether a voice websocket is open and identified, ``mode`` and
    ``secret_key`` are set once the client selected a protocol (it can then send audio).
    """

    guild_id: int
    channel_id: int
    session_id: str
    token: str
    self_mute: bool
    self_deaf: bool
    suppress: bool
    request_to_speak_timestamp: str | None
    ssrc: int | None
    mode: str | None
    websocket: bool
    client_address: tuple[str, int] | None  # what the client selected (op 1)
    identifies: int  # op 0s accepted for this guild since the bot joined
    resumes: int  # op 7s accepted

    @property
    def ready(self) -> bool:
        """Whether the handshake is complete (session description sent)."""
        return self.websocket and self.mode is not None


@dataclass
class VoiceRecords:
    """Everything the voice server saw, in order (shared by the websocket and UDP sides)."""

    frames: list[VoiceFrame] = field(default_factory=list)
    speaking: list[SpeakingEvent] = field(default_factory=list)
    ip_discoveries: list[IpDiscovery] = field(default_factory=list)
    identifies: list[Json] = field(default_factory=list)  # op 0 ``d`` without the token
    resumes: list[Json] = field(default_factory=list)  # op 7 ``d`` without the token
    state_updates: list[Json] = field(default_factory=list)  # main-gateway op 4 ``d``
    refusals: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stage_topics: dict[int, list[str]] = field(default_factory=dict)
    close_codes: list[int] = field(default_factory=list)  # voice websockets' close codes


class VoiceServer:
    """``double.voice``: the voice server (websocket + UDP) and what it recorded.

    Started and stopped with the double. Frames, speaking events and the rest are kept for
    the double's lifetime; ``clear()`` forgets them.
    """

    def __init__(
        self,
        *,
        notifier: Notifier,
        websocket: VoiceWebSocketServer,
        udp: VoiceUdp,
        records: VoiceRecords,
        bot_state: Callable[[int], Json | None],
    ) -> None:
        self._notifier = notifier
        self._ws = websocket
        self._udp = udp
        self.records = records
        self._bot_state = bot_state

    # -- addresses ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``host:port`` of the voice websocket, as sent in VOICE_SERVER_UPDATE."""
        return self._ws.endpoint

    @property
    def udp_address(self) -> tuple[str, int]:
        """Where the voice server takes UDP (sent in ready, op 2)."""
        return self._udp.address

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the voice server's certificate (for a bot in a
        subprocess: ``SSL_CERT_FILE``)."""
        return self._ws.tls.ca_file

    # -- the bot's connection ------------------------------------------------------------

    def connection(self, guild_id: int) -> VoiceConnection | None:
        """The bot's voice connection in the guild, or None when it is in no voice channel."""
        state = self._bot_state(guild_id)
        if state is None or state.get("channel_id") is None:
            return None
        session = self._ws.session(guild_id)
        # A session identified (or resumed) with an older token is being replaced (moves).
        current = session is not None and session.token == self._ws.token(guild_id)
        return VoiceConnection(
            guild_id=guild_id,
            channel_id=int(state["channel_id"]),
            session_id=state["session_id"],
            token=session.token if session else "",
            self_mute=state["self_mute"],
            self_deaf=state["self_deaf"],
            suppress=state["suppress"],
            request_to_speak_timestamp=state["request_to_speak_timestamp"],
            ssrc=session.ssrc if session else None,
            mode=session.mode if session else None,
            websocket=bool(session and session.live and current),
            client_address=session.client_address if session else None,
            identifies=session.identifies if session else 0,
            resumes=session.resumes if session else 0,
        )

    async def wait_connected(
        self, guild_id: int, *, channel_id: int | None = None, timeout: float = 10.0
    ) -> VoiceConnection:
        """Wait until the bot's voice handshake in the guild is complete (in ``channel_id``
        if given): voice state set, websocket identified, protocol selected."""

        def check() -> VoiceConnection | None:
            found = self.connection(guild_id)
            if found is None or not found.ready:
                return None
            return found if channel_id is None or found.channel_id == channel_id else None

        return await self._notifier.wait_for(
            check, timeout, f"the bot's voice connection in guild {guild_id}"
        )

    async def wait_disconnected(self, guild_id: int, *, timeout: float = 10.0) -> None:
        """Wait until the bot is in no voice channel of the guild."""
        await self._notifier.wait_for(
            lambda: True if self.connection(guild_id) is None else None,
            timeout,
            f"the bot to leave voice in guild {guild_id}",
        )

    async def wait_reconnected(
        self, guild_id: int, previous: VoiceConnection, *, timeout: float = 10.0
    ) -> VoiceConnection:
        """Wait until the bot's voice connection in the guild is ready again after
        ``previous`` ended: a new identify (another ssrc) or a resume."""

        def check() -> VoiceConnection | None:
            found = self.connection(guild_id)
            if found is None or not found.ready:
                return None
            renewed = found.ssrc != previous.ssrc or found.resumes > previous.resumes
            return found if renewed else None

        return await self._notifier.wait_for(
            check, timeout, f"the bot's voice connection in guild {guild_id} to come back"
        )

    async def wait_resumed(self, guild_id: int, *, resumes: int = 1, timeout: float = 10.0) -> None:
        """Wait until the guild's voice session was resumed (op 7) ``resumes`` times."""

        def check() -> bool | None:
            found = self.connection(guild_id)
            return True if found is not None and found.resumes >= resumes and found.ready else None

        await self._notifier.wait_for(check, timeout, f"{resumes} voice resume(s)")

    # -- what the bot sent ---------------------------------------------------------------

    def frames(self, channel_id: int, *, include_silence: bool = True) -> list[VoiceFrame]:
        """Opus frames the bot sent while in the channel, in arrival order."""
        return [
            f
            for f in self.records.frames
            if f.channel_id == channel_id and (include_silence or not f.silence)
        ]

    async def wait_frames(
        self, channel_id: int, count: int, *, include_silence: bool = False, timeout: float = 10.0
    ) -> list[VoiceFrame]:
        """Wait until at least ``count`` frames (not counting silence by default) arrived."""

        def check() -> list[VoiceFrame] | None:
            found = self.frames(channel_id, include_silence=include_silence)
            return found if len(found) >= count else None

        return await self._notifier.wait_for(
            check, timeout, f"{count} voice frames in channel {channel_id}"
        )

    def pcm(self, channel_id: int, *, include_silence: bool = True) -> np.ndarray:
        """The channel's frames decoded with libopus (``discord.opus.Decoder``), in arrival
        order, one decoder per ssrc: int16 samples, shape ``(n, 2)``, 48 kHz stereo."""
        from .voice_udp import decode_opus

        return decode_opus(self.frames(channel_id, include_silence=include_silence))

    def speaking(self, channel_id: int) -> list[SpeakingEvent]:
        """Speaking (op 5) events the bot sent while in the channel, in order."""
        return [s for s in self.records.speaking if s.channel_id == channel_id]

    async def wait_speaking(
        self, channel_id: int, *, active: bool, timeout: float = 10.0
    ) -> SpeakingEvent:
        """Wait until the bot's latest speaking event in the channel is (in)active."""

        def check() -> SpeakingEvent | None:
            events = self.speaking(channel_id)
            return events[-1] if events and events[-1].active == active else None

        return await self._notifier.wait_for(
            check, timeout, f"speaking={active} in channel {channel_id}"
        )

    @property
    def ip_discoveries(self) -> list[IpDiscovery]:
        return self.records.ip_discoveries

    @property
    def identifies(self) -> list[Json]:
        """Voice op 0 payloads (without the token), in order."""
        return self.records.identifies

    @property
    def resumes(self) -> list[Json]:
        """Voice op 7 payloads (without the token), in order."""
        return self.records.resumes

    @property
    def state_updates(self) -> list[Json]:
        """Main-gateway op 4 payloads the bot sent, in order."""
        return self.records.state_updates

    @property
    def refusals(self) -> list[str]:
        """Op 4 joins the double ignored, and why (no Connect, channel full...)."""
        return self.records.refusals

    @property
    def violations(self) -> list[str]:
        """Voice protocol mistakes: bad ops or payloads, packets that did not decrypt."""
        return self.records.violations

    @property
    def close_codes(self) -> list[int]:
        """Close codes of ended voice websockets (either side's), in order."""
        return self.records.close_codes

    def stage_topics(self, channel_id: int) -> list[str]:
        """Every topic the Stage's instances had (created or patched), in order."""
        return list(self.records.stage_topics.get(channel_id, []))

    def clear(self) -> None:
        """Forget recorded frames, speaking events and discoveries (not the connections)."""
        self.records.frames.clear()
        self.records.speaking.clear()
        self.records.ip_discoveries.clear()

    # -- faults --------------------------------------------------------------------------

    async def drop_websocket(self, guild_id: int, *, code: int = 1006) -> None:
        """End the bot's voice websocket in the guild: 1006 aborts the TCP connection
        without a close frame; any other code is sent in a close frame (4015: resume;
        4014: disconnected; 4006: session no longer valid)."""
        await self._ws.drop(guild_id, code=code)

    def send_receiver_report(self, guild_id: int) -> None:
        """Send the bot's voice UDP socket an RTCP receiver report (RFC 3550, 32 bytes).

        Discord's voice servers send clients RTCP as well as others' audio (other libraries'
        receive code skips packet types 200-204); the double sends nothing unasked. Any
        datagram after the first IP discovery wakes discord.py's UDP reader thread from its
        30 s ``select()``, so a reconnect after a drop then completes at once (see above)."""
        session = self._ws.session(guild_id)
        if session is None or session.client_address is None:
            raise RuntimeError(f"no voice session with a selected protocol in guild {guild_id}")
        self._udp.send_receiver_report(session.udp, session.client_address)

    def session(self, guild_id: int) -> VoiceSession | None:
        """The voice server's session for the guild (internal details, for debugging)."""
        return self._ws.session(guild_id)

    def describe(self) -> dict[str, Any]:
        """A summary for failure messages."""
        return {
            "frames": len(self.records.frames),
            "speaking": [(s.speaking, round(s.at, 3)) for s in self.records.speaking],
            "identifies": len(self.records.identifies),
            "violations": self.records.violations[-5:],
            "refusals": self.records.refusals[-5:],
        }


def iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
