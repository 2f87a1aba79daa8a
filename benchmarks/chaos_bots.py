"""The bot under chaos: `rapbattle run` processes (one, or one per shard), started, killed with
SIGKILL, started again, and finally stopped with Ctrl-C; each life's log kept whole.

Only the processes started here are ever signalled, by their own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RAPBATTLE = Path(sys.executable).with_name("rapbattle")
READY_LINE = "Ready as"
STOP_TIMEOUT = 30.0


@dataclass
class Life:
    """One run of one bot process, from its start to its kill (or its stop)."""

    slot: int  # which process (its shard, with shards)
    number: int  # the how-manieth start of that slot
    started_at: float  # time.monotonic()
    log_path: Path
    lines: list[str] = field(default_factory=list)
    ready_at: float | None = None
    ended_at: float | None = None
    killed: bool = False
    returncode: int | None = None

    @property
    def log(self) -> str:
        return "".join(self.lines)


class BotSlot:
    """One bot process, restarted as often as it is killed."""

    def __init__(self, slot: int, env: dict[str, str], workdir: Path) -> None:
        self.slot = slot
        self.env = env
        self.workdir = workdir
        self.lives: list[Life] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def life(self) -> Life | None:
        return self.lives[-1] if self.lives else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def ready(self) -> bool:
        return self.running and self.life is not None and self.life.ready_at is not None

    async def start(self) -> Life:
        number = len(self.lives) + 1
        life = Life(
            self.slot, number, time.monotonic(), self.workdir / f"bot-{self.slot}-{number}.log"
        )
        self.lives.append(life)
        self._process = await asyncio.create_subprocess_exec(
            str(RAPBATTLE),
            "run",
            env=self.env,
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self._process, life))
        return life

    async def _read(self, process: asyncio.subprocess.Process, life: Life) -> None:
        assert process.stderr is not None
        with life.log_path.open("w", encoding="utf-8") as kept:
            async for raw in process.stderr:
                line = raw.decode(errors="replace")
                life.lines.append(line)
                kept.write(line)
                if life.ready_at is None and READY_LINE in line:
                    life.ready_at = time.monotonic()

    async def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not self.ready:
            if not self.running and self._process is not None:
                raise RuntimeError(
                    f"bot {self.slot} exited at start:\n{self.life and self.life.log}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"bot {self.slot} was not ready after {within:.0f} s")
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as when a machine dies."""
        self.kill_now()
        await self.reap()

    def kill_now(self) -> None:
        """SIGKILL at once, from anywhere (a tripwire in the Discord double); then ``reap``."""
        process, life = self._process, self.life
        assert process is not None and life is not None
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        life.killed = True

    async def reap(self) -> None:
        process, life = self._process, self.life
        assert process is not None and life is not None
        await self._ended(process, life)

    async def stop(self) -> None:
        """Ctrl-C, as an operator stops it; killed if it does not stop in time."""
        process, life = self._process, self.life
        if process is None or life is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.send_signal(signal.SIGKILL)
            life.killed = True
        await self._ended(process, life)

    async def _ended(self, process: asyncio.subprocess.Process, life: Life) -> None:
        await process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 10)
        life.ended_at = time.monotonic()
        life.returncode = process.returncode


class Fleet:
    """The bot's processes: one, or one per shard."""

    def __init__(self, envs: list[dict[str, str]], workdir: Path) -> None:
        self.slots = [BotSlot(i, env, workdir) for i, env in enumerate(envs)]

    @property
    def lives(self) -> list[Life]:
        return [life for slot in self.slots for life in slot.lives]

    @property
    def all_ready(self) -> bool:
        return all(slot.ready for slot in self.slots)

    async def start(self) -> None:
        for slot in self.slots:
            await slot.start()
        for slot in self.slots:
            await slot.wait_ready()

    async def stop(self) -> None:
        await asyncio.gather(*(slot.stop() for slot in self.slots))
