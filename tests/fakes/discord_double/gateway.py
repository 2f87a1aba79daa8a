"""The gateway websocket: sessions per shard, heartbeats, IDENTIFY/RESUME and dispatch.

Frames are plain JSON text (discord.py only decompresses binary frames, so the
``compress=zlib-stream`` query is ignored). Every dispatched event gets a sequence number
in its session and stays buffered, so a RESUME replays what the client missed. A session
ends when the client closes with 1000/1001 (as on Discord) or when it is invalidated.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from .model import PRIVILEGED_INTENTS, Guild, Intent, Json, Member, Notifier, User

#: Which intent an event needs to be dispatched (events not listed need none).
EVENT_INTENTS: dict[str, Intent] = {
    **dict.fromkeys(
        [
            "GUILD_CREATE",
            "GUILD_UPDATE",
            "GUILD_DELETE",
            "GUILD_ROLE_CREATE",
            "GUILD_ROLE_UPDATE",
            "GUILD_ROLE_DELETE",
            "CHANNEL_CREATE",
            "CHANNEL_UPDATE",
            "CHANNEL_DELETE",
            "THREAD_CREATE",
            "THREAD_UPDATE",
            "THREAD_DELETE",
            "THREAD_LIST_SYNC",
            "THREAD_MEMBER_UPDATE",
        ],
        Intent.GUILDS,
    ),
    "WEBHOOKS_UPDATE": Intent.GUILD_WEBHOOKS,
    **dict.fromkeys(
        ["GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"], Intent.GUILD_MEMBERS
    ),
    **dict.fromkeys(
        ["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"],
        Intent.GUILD_MESSAGES,
    ),
    **dict.fromkeys(
        [
            "MESSAGE_REACTION_ADD",
            "MESSAGE_REACTION_REMOVE",
            "MESSAGE_REACTION_REMOVE_ALL",
            "MESSAGE_REACTION_REMOVE_EMOJI",
        ],
        Intent.GUILD_MESSAGE_REACTIONS,
    ),
    "TYPING_START": Intent.GUILD_MESSAGE_TYPING,
    "VOICE_STATE_UPDATE": Intent.GUILD_VOICE_STATES,
    **dict.fromkeys(
        ["STAGE_INSTANCE_CREATE", "STAGE_INSTANCE_UPDATE", "STAGE_INSTANCE_DELETE"],
        Intent.GUILDS,
    ),
}
_CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE_STATE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION = 6, 7, 8, 9
OP_HELLO, OP_HEARTBEAT_ACK = 10, 11
SESSION_ENDING_CODES = (1000, 1001)


class GatewayWorld(Protocol):
    bot: User
    application_id: int
    guilds: dict[int, Guild]

    def application_flags(self) -> int: ...


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    session: GatewaySession | None = None
    closed_by_server: bool = False
    heartbeats: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: Json) -> None:
        async with self._lock:
            await self.ws.send_str(json.dumps(frame))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_by_server = True
        await self.ws.close(code=code, message=reason.encode())


@dataclass(eq=False)
class GatewaySession:
    """One IDENTIFYed session; outlives its websocket connection until it ends."""

    id: str
    shard_id: int
    shard_count: int
    intents: int
    events: list[Json] = field(default_factory=list)
    first_seq: int = 1
    seq: int = 0
    delivered: int = 0
    connection: Connection | None = None
    guild_ids: list[int] = field(default_factory=list)
    resumes: int = 0
    ended: bool = False

    @property
    def live(self) -> bool:
        return self.connection is not None and not self.ended

    def covers(self, guild_id: int | None) -> bool:
        if guild_id is None:  # DMs and other guild-less events go to shard 0
            return self.shard_id == 0
        return (guild_id >> 22) % self.shard_count == self.shard_id

    def push(self, event: str, data: Json, max_buffer: int) -> None:
        self.seq += 1
        self.events.append({"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data})
        if len(self.events) > max_buffer:
            dropped = len(self.events) - max_buffer
            del self.events[:dropped]
            self.first_seq += dropped
        if self.connection is not None:
            self.connection.wake.set()

    def can_replay_after(self, seq: object) -> bool:
        return isinstance(seq, int) and self.first_seq - 1 <= seq <= self.seq

    def next_frame(self) -> Json:
        return self.events[self.delivered + 1 - self.first_seq]


class Gateway:
    def __init__(
        self,
        *,
        world: GatewayWorld,
        token: str,
        notifier: Notifier,
        heartbeat_interval: float,
        privileged_intents: int,
        max_buffer: int = 10_000,
    ) -> None:
        self.url = ""
        self.sessions: list[GatewaySession] = []
        self.identifies: list[Json] = []
        self.paused = False
        self._world = world
        self._token = token
        self._notifier = notifier
        self._heartbeat_ms = round(heartbeat_interval * 1000)
        self._privileged = privileged_intents
        self._max_buffer = max_buffer
        self._connections: set[Connection] = set()
        #: Op 4 (Voice State Update) handler: (gateway session id, d) -> None (voice_world.py).
        self.voice_state_handler: Callable[[str, Json], None] | None = None
        self._held: set[int] = set()
        self._hold_all = False

    # -- dispatch -------------------------------------------------------------------------

    def dispatch(self, event: str, data: Json, guild_id: int | None) -> None:
        """Send an event to every session that covers the guild and has the intent."""
        needed = EVENT_INTENTS.get(event, 0)
        for session in self.sessions:
            if session.ended or not session.covers(guild_id) or session.intents & needed != needed:
                continue
            payload = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
                payload = self._without_content(session, data)
            if event == "GUILD_CREATE" and guild_id is not None:
                session.guild_ids.append(guild_id)
                all_members = bool(session.intents & Intent.GUILD_MEMBERS)
                payload = self._world.guilds[guild_id].to_gateway(all_members=all_members)
            session.push(event, payload, self._max_buffer)

    def _without_content(self, session: GatewaySession, message: Json) -> Json:
        """Without MESSAGE_CONTENT, others' messages arrive without content (unless they
        mention the bot)."""
        bot_id = str(self._world.bot.id)
        if (
            session.intents & Intent.MESSAGE_CONTENT
            or message.get("author", {}).get("id") == bot_id
            or f"<@{bot_id}>" in message.get("content", "")
        ):
            return message
        return {**message, **_CONTENT_FIELDS}

    def has_session_for(self, guild_id: int) -> bool:
        return any(not s.ended and s.covers(guild_id) for s in self.sessions)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        for connection in self._connections:
            connection.wake.set()

    def flushed(self) -> bool:
        """Whether every connected session has been sent everything queued for it."""
        return self.paused or all(s.delivered >= s.seq for s in self.sessions if s.live)

    def live(self, shard_id: int) -> bool:
        return any(s.live and s.shard_id == shard_id for s in self.sessions)

    # -- test controls ----------------------------------------------------------------------

    def hold(self, shard_id: int | None = None) -> None:
        """Make IDENTIFY/RESUME of the shard (or all) wait until :meth:`release`."""
        if shard_id is None:
            self._hold_all = True
        else:
            self._held.add(shard_id)

    def release(self, shard_id: int | None = None) -> None:
        if shard_id is None:
            self._hold_all = False
            self._held.clear()
        else:
            self._held.discard(shard_id)
        self._notifier.notify()

    def _connections_of(self, shard_id: int | None) -> list[Connection]:
        return [
            c
            for c in self._connections
            if shard_id is None or (c.session is not None and c.session.shard_id == shard_id)
        ]

    async def disconnect(self, shard_id: int | None = None, *, code: int = 4000) -> None:
        """Close the websockets (the sessions stay resumable and keep collecting events)."""
        connections = self._connections_of(shard_id)
        for connection in connections:
            if connection.session is not None and connection.session.connection is connection:
                connection.session.connection = None
        await asyncio.gather(*(c.close(code) for c in connections))
        self._notifier.notify()

    async def send_op(self, op: int, data: Any, shard_id: int | None = None) -> None:
        await asyncio.gather(
            *(c.send({"op": op, "d": data}) for c in self._connections_of(shard_id))
        )

    async def invalidate(self, shard_id: int | None = None, *, resumable: bool = False) -> None:
        """Send op 9; a non-resumable session ends, so the client must IDENTIFY again."""
        if not resumable:
            for session in self.sessions:
                if shard_id is None or session.shard_id == shard_id:
                    session.ended = True
        await self.send_op(OP_INVALID_SESSION, resumable, shard_id)

    async def close(self) -> None:
        await asyncio.gather(
            *(c.close(1001, "going away") for c in list(self._connections)),
            return_exceptions=True,
        )

    # -- websocket ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = Connection(ws)
        self._connections.add(connection)
        connection.spawn(self._writer(connection))
        try:
            await connection.send({"op": OP_HELLO, "d": {"heartbeat_interval": self._heartbeat_ms}})
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    await connection.close(4002, "Error while decoding payload.")
                    break
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    await connection.close(4002, "Error while decoding payload.")
                    break
                await self._on_frame(connection, frame)
        finally:
            await self._forget(connection)
        return ws

    async def _forget(self, connection: Connection) -> None:
        for task in list(connection.tasks):
            task.cancel()
        await asyncio.gather(*connection.tasks, return_exceptions=True)
        self._connections.discard(connection)
        session = connection.session
        if session is not None and session.connection is connection:
            session.connection = None
            if not connection.closed_by_server and connection.ws.close_code in (
                SESSION_ENDING_CODES
            ):
                session.ended = True
        self._notifier.notify()

    async def _on_frame(self, connection: Connection, frame: Json) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            connection.heartbeats += 1
            await connection.send({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            connection.spawn(self._identify(connection, data or {}))
        elif op == OP_RESUME:
            connection.spawn(self._resume(connection, data or {}))
        elif op not in (OP_PRESENCE, OP_VOICE_STATE, OP_REQUEST_MEMBERS):
            await connection.close(4001, "Unknown opcode.")
        elif connection.session is None:
            await connection.close(4003, "Not authenticated.")
        elif op == OP_REQUEST_MEMBERS:
            self._members_chunk(connection.session, data or {})
        elif op == OP_VOICE_STATE and self.voice_state_handler is not None:
            self.voice_state_handler(connection.session.id, data or {})

    async def _released(self, shard_id: int) -> None:
        await self._notifier.wait_for(
            lambda: True if not (self._hold_all or shard_id in self._held) else None,
            timeout=3600,
            what=f"shard {shard_id} to be released",
        )

    async def _identify(self, connection: Connection, data: Json) -> None:
        if connection.session is not None:
            return await connection.close(4005, "Already authenticated.")
        if data.get("token") != self._token:
            return await connection.close(4004, "Authentication failed.")
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            return await connection.close(4010, "Invalid shard.")
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            return await connection.close(4013, "Invalid intent(s).")
        if intents & PRIVILEGED_INTENTS & ~self._privileged:
            return await connection.close(4014, "Disallowed intent(s).")
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        await self._released(shard_id)

        session = GatewaySession(secrets.token_hex(16), shard_id, shard_count, intents)
        session.connection = connection
        connection.session = session
        self.sessions.append(session)
        guilds = [g for g in self._world.guilds.values() if session.covers(g.id)]
        ready: Json = {
            "v": 10,
            "user": {**self._world.bot.to_wire(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {
                "id": str(self._world.application_id),
                "flags": self._world.application_flags(),
            },
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "auth": {},
        }
        if "shard" in data:
            ready["shard"] = [shard_id, shard_count]
        session.push("READY", ready, self._max_buffer)
        all_members = bool(intents & Intent.GUILD_MEMBERS)
        for guild in guilds:
            session.guild_ids.append(guild.id)
            session.push(
                "GUILD_CREATE", guild.to_gateway(all_members=all_members), self._max_buffer
            )
        self._notifier.notify()

    async def _resume(self, connection: Connection, data: Json) -> None:
        session = next((s for s in self.sessions if s.id == data.get("session_id")), None)
        if (
            session is None
            or session.ended
            or data.get("token") != self._token
            or not session.can_replay_after(data.get("seq"))
        ):
            await connection.send({"op": OP_INVALID_SESSION, "d": False})
            return
        await self._released(session.shard_id)
        if connection.ws.closed:
            return
        previous = session.connection
        if previous is not None and previous is not connection:
            await previous.close(4000)
        connection.session = session
        session.connection = connection
        session.delivered = data["seq"]
        session.resumes += 1
        session.push("RESUMED", {}, self._max_buffer)
        self._notifier.notify()

    def _members_chunk(self, session: GatewaySession, data: Json) -> None:
        """Answer op 8 with one GUILD_MEMBERS_CHUNK."""
        guild = self._world.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        wanted = {int(u) for u in data.get("user_ids") or []}
        query = (data.get("query") or "").lower()
        members: Iterable[Member] = guild.members.values()
        if wanted:
            members = [m for m in members if m.id in wanted]
        else:
            members = [m for m in members if m.name.lower().startswith(query)]
        limit = data.get("limit") or 0
        members = list(members)[: limit or None]
        chunk: Json = {
            "guild_id": str(guild.id),
            "members": [m.to_wire() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted - {m.id for m in members}],
        }
        if "nonce" in data:
            chunk["nonce"] = data["nonce"]
        session.push("GUILD_MEMBERS_CHUNK", chunk, self._max_buffer)

    async def _writer(self, connection: Connection) -> None:
        """Send the session's queued events in order, one writer per connection."""
        while not connection.ws.closed:
            await connection.wake.wait()
            connection.wake.clear()
            session = connection.session
            while (
                session is not None
                and session.connection is connection
                and not self.paused
                and session.delivered < session.seq
            ):
                frame = session.next_frame()
                try:
                    await connection.send(frame)
                except (ConnectionError, RuntimeError):
                    return  # the socket is closing; a RESUME will replay from the client's seq
                session.delivered = frame["s"]
            self._notifier.notify()
