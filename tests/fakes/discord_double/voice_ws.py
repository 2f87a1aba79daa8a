"""The voice websocket (gateway v8) over TLS: identify, heartbeats, select protocol, speaking,
resume; and the test controls that drop it. See ``voice.py`` for the protocol summary."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .model import Json, Notifier
from .voice import SpeakingEvent, VoiceRecords
from .voice_tls import TlsMaterial, tls_material, trust_in_process
from .voice_udp import MODES, UdpSession, VoiceUdp

OP_IDENTIFY, OP_SELECT_PROTOCOL, OP_READY, OP_HEARTBEAT = 0, 1, 2, 3
OP_SESSION_DESCRIPTION, OP_SPEAKING, OP_HEARTBEAT_ACK, OP_RESUME = 4, 5, 6, 7
OP_HELLO, OP_RESUMED, OP_CLIENT_DISCONNECT = 8, 9, 13
#: Ops a client may send that the double accepts without acting (12 client connect is
#: discord.py's video hint; the DAVE ops never come since DAVE is off).
_IGNORED_OPS = {12}
HEARTBEAT_INTERVAL_MS = 13_750.0  # what Discord's voice servers send


@dataclass
class Grant:
    """What a VOICE_SERVER_UPDATE handed the bot: the token for its voice session."""

    guild_id: int
    user_id: int
    session_id: str
    channel_id: int
    token: str


@dataclass(eq=False)
class VoiceSession:
    """A voice server session (one per guild), from identify until the bot leaves."""

    grant: Grant
    udp: UdpSession
    ws: web.WebSocketResponse | None = None
    client_address: tuple[str, int] | None = None
    identifies: int = 1
    resumes: int = 0
    seq: int = 0
    sent: list[Json] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.grant.token

    @property
    def ssrc(self) -> int:
        return self.udp.ssrc

    @property
    def mode(self) -> str | None:
        return self.udp.mode

    @property
    def live(self) -> bool:
        return self.ws is not None and not self.ws.closed


class VoiceWebSocketServer:
    def __init__(
        self, *, notifier: Notifier, records: VoiceRecords, udp: VoiceUdp, host: str
    ) -> None:
        self.endpoint = ""
        self.tls: TlsMaterial = tls_material()
        self._notifier = notifier
        self._records = records
        self._udp = udp
        self._host = host
        self._grants: dict[int, Grant] = {}
        self._sessions: dict[int, VoiceSession] = {}
        self._sockets: dict[web.WebSocketResponse, asyncio.Transport | None] = {}
        self._aborted: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        trust_in_process()
        app = web.Application()
        app.router.add_get("/", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0, ssl_context=self.tls.server_context())
        await site.start()
        self.endpoint = f"{self._host}:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- grants (from the main gateway's op 4) --------------------------------------------

    def issue(self, guild_id: int, user_id: int, session_id: str, channel_id: int) -> str:
        """A fresh token for the bot's voice session in the guild (VOICE_SERVER_UPDATE)."""
        token = secrets.token_hex(8)
        self._grants[guild_id] = Grant(guild_id, user_id, session_id, channel_id, token)
        session = self._sessions.get(guild_id)
        if session is not None:
            session.udp.channel_id = channel_id
        return token

    def token(self, guild_id: int) -> str | None:
        grant = self._grants.get(guild_id)
        return None if grant is None else grant.token

    async def revoke(self, guild_id: int, *, token: str | None = None, code: int = 4014) -> None:
        """The bot left voice: its grant and session end, an open websocket closes. With
        ``token``, only if that is still the guild's grant (the bot may have joined again)."""
        if token is not None and self.token(guild_id) != token:
            return
        self._grants.pop(guild_id, None)
        session = self._sessions.pop(guild_id, None)
        if session is None:
            return
        self._udp.forget(session.ssrc)
        if session.live:
            assert session.ws is not None
            await session.ws.close(code=code, message=b"Disconnected.")
        self._notifier.notify()

    def session(self, guild_id: int) -> VoiceSession | None:
        return self._sessions.get(guild_id)

    async def drop(self, guild_id: int, *, code: int) -> None:
        session = self._sessions.get(guild_id)
        if session is None or not session.live:
            raise RuntimeError(f"no open voice websocket in guild {guild_id}")
        ws = session.ws
        assert ws is not None
        session.ws = None  # dead from now on, whatever the client does
        if code == 1006:
            self._aborted.add(ws)
            transport = self._sockets.get(ws)
            if transport is not None:
                transport.abort()
        else:
            await ws.close(code=code, message=b"Dropped by the test.")
        self._notifier.notify()

    # -- the websocket --------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets[ws] = request.transport  # type: ignore[assignment]
        if request.query.get("v") != "8":
            self._violate(
                f"voice gateway version {request.query.get('v')!r} (discord.py 2.7 uses 8)"
            )
        await self._send(ws, {"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        session: VoiceSession | None = None
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    self._violate("binary voice frame while DAVE is off")
                    continue
                try:
                    frame = json.loads(message.data)
                    op, data = frame["op"], frame.get("d")
                except (ValueError, KeyError, TypeError):
                    await ws.close(code=4002, message=b"Failed to decode payload.")
                    break
                session = await self._on_frame(ws, session, op, data)
        finally:
            self._sockets.pop(ws, None)
            if ws in self._aborted:
                self._aborted.discard(ws)
                self._records.close_codes.append(1006)
            elif ws.close_code is not None:
                self._records.close_codes.append(ws.close_code)
            if session is not None and session.ws is ws:
                session.ws = None
            self._notifier.notify()
        return ws

    async def _on_frame(
        self, ws: web.WebSocketResponse, session: VoiceSession | None, op: Any, data: Any
    ) -> VoiceSession | None:
        if op == OP_HEARTBEAT:
            nonce = data.get("t") if isinstance(data, dict) else data
            await self._send(ws, {"op": OP_HEARTBEAT_ACK, "d": {"t": nonce}})
            return session
        if op == OP_IDENTIFY:
            if session is not None:
                await ws.close(code=4005, message=b"Already authenticated.")
                return session
            return await self._identify(ws, data if isinstance(data, dict) else {})
        if op == OP_RESUME:
            if session is not None:
                await ws.close(code=4005, message=b"Already authenticated.")
                return session
            return await self._resume(ws, data if isinstance(data, dict) else {})
        if op not in (OP_SELECT_PROTOCOL, OP_SPEAKING) and op not in _IGNORED_OPS:
            self._violate(f"unknown voice op {op!r}")
            await ws.close(code=4001, message=b"Unknown opcode.")
            return session
        if session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
            return None
        if op == OP_SELECT_PROTOCOL:
            await self._select_protocol(ws, session, data if isinstance(data, dict) else {})
        elif op == OP_SPEAKING:
            self._speaking(session, data if isinstance(data, dict) else {})
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: Json) -> VoiceSession | None:
        self._records.identifies.append({k: v for k, v in data.items() if k != "token"})
        grant = self._grant_for(data)
        if grant is None:
            await ws.close(code=4011, message=b"Server not found.")
            return None
        if data.get("token") != grant.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        if data.get("session_id") != grant.session_id or str(data.get("user_id")) != str(
            grant.user_id
        ):
            await ws.close(code=4006, message=b"Session is no longer valid.")
            return None
        previous = self._sessions.get(grant.guild_id)
        if previous is not None:
            self._udp.forget(previous.ssrc)
        ssrc = secrets.randbelow(2**31 - 1) + 1
        session = VoiceSession(
            grant,
            UdpSession(grant.guild_id, grant.channel_id, grant.user_id, ssrc),
            ws=ws,
            identifies=(previous.identifies + 1) if previous is not None else 1,
            resumes=previous.resumes if previous is not None else 0,
        )
        self._sessions[grant.guild_id] = session
        self._udp.register(session.udp)
        host, port = self._udp.address
        await self._send_seq(
            session,
            OP_READY,
            {
                "ssrc": ssrc,
                "ip": host,
                "port": port,
                "modes": list(MODES),
                "heartbeat_interval": 1,  # legacy field; the docs say to ignore it
            },
        )
        self._notifier.notify()
        return session

    def _grant_for(self, data: Json) -> Grant | None:
        try:
            guild_id = int(data.get("server_id", 0))
        except (TypeError, ValueError):
            return None
        return self._grants.get(guild_id)

    async def _resume(self, ws: web.WebSocketResponse, data: Json) -> VoiceSession | None:
        self._records.resumes.append({k: v for k, v in data.items() if k != "token"})
        grant = self._grant_for(data)
        session = None if grant is None else self._sessions.get(grant.guild_id)
        if (
            grant is None
            or session is None
            or data.get("token") != grant.token
            or data.get("session_id") != grant.session_id
        ):
            await ws.close(code=4006, message=b"Session is no longer valid.")
            return None
        if session.live and session.ws is not ws:
            assert session.ws is not None
            await session.ws.close(code=4000)
        session.grant = grant
        session.ws = ws
        session.resumes += 1
        seq_ack = data.get("seq_ack")
        missed = [m for m in session.sent if isinstance(seq_ack, int) and m["seq"] > seq_ack]
        for message in missed:
            await self._send(ws, message)
        await self._send(ws, {"op": OP_RESUMED, "d": None})
        self._notifier.notify()
        return session

    async def _select_protocol(
        self, ws: web.WebSocketResponse, session: VoiceSession, data: Json
    ) -> None:
        options = data.get("data") or {}
        mode = options.get("mode")
        if data.get("protocol") != "udp":
            await ws.close(code=4012, message=b"Unknown protocol.")
            return
        if mode not in MODES:
            self._violate(f"select protocol with mode {mode!r}; offered {MODES}")
            await ws.close(code=4016, message=b"Unknown encryption mode.")
            return
        session.client_address = (str(options.get("address")), int(options.get("port", 0)))
        key = secrets.token_bytes(32)
        session.udp.secret_key = key
        session.udp.mode = mode
        session.udp.last_nonce = -1
        await self._send_seq(
            session,
            OP_SESSION_DESCRIPTION,
            {
                "audio_codec": "opus",
                "video_codec": "H264",
                "media_session_id": secrets.token_hex(16),
                "mode": mode,
                "secret_key": list(key),
                "dave_protocol_version": 0,
            },
        )
        self._notifier.notify()

    def _speaking(self, session: VoiceSession, data: Json) -> None:
        ssrc = data.get("ssrc")
        if ssrc != session.ssrc:
            self._violate(f"speaking with ssrc {ssrc} (the session's is {session.ssrc})")
        self._records.speaking.append(
            SpeakingEvent(
                guild_id=session.grant.guild_id,
                channel_id=session.udp.channel_id,
                user_id=session.grant.user_id,
                ssrc=session.ssrc,
                speaking=int(data.get("speaking", 0)),
                delay=int(data.get("delay", 0)),
                at=time.monotonic(),
            )
        )
        self._notifier.notify()

    async def _send_seq(self, session: VoiceSession, op: int, data: Json) -> None:
        session.seq += 1
        message = {"op": op, "d": data, "seq": session.seq}
        session.sent.append(message)
        if session.ws is not None:
            await self._send(session.ws, message)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, message: Json) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps(message))
        except (ConnectionError, RuntimeError):
            pass  # the client went away; it resumes or reconnects

    def _violate(self, problem: str) -> None:
        self._records.violations.append(f"voice websocket: {problem}")
