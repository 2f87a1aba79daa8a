"""Processes of a load run: the model server and the bot as subprocesses, /proc readings of them,
a profiler attached to the bot, and the driver's own event-loop lag.

Every process started here is ended by the context manager that started it, on success, failure
or Ctrl-C alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RAPBATTLE = VENV_BIN / "rapbattle"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 30.0
HEARTBEAT_INTERVAL = 41.25  # the double's, like Discord's


# -- /proc readings ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcReading:
    at: float  # time.monotonic()
    rss_kb: int  # VmRSS
    hwm_kb: int  # VmHWM, the peak RSS so far
    cpu_seconds: float  # utime + stime


def _cpu_of(stat_path: str) -> float:
    with open(stat_path, encoding="ascii") as stat:
        # The command name may hold spaces; the fields after its closing ")" do not.
        after_name = stat.read().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process (the main thread's id is the process id)."""
    found = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            found[int(task)] = _cpu_of(f"/proc/{pid}/task/{task}/stat")
    return found


def read_proc(pid: int) -> ProcReading:
    """RSS, peak RSS and CPU time of a process, from /proc/PID/status and /proc/PID/stat."""
    at = time.monotonic()
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0])
    return ProcReading(at, fields["VmRSS"], fields["VmHWM"], _cpu_of(f"/proc/{pid}/stat"))


class _Background:
    """A measurement that runs its ``_run`` loop as a task between start() and stop()."""

    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass
class Sampler(_Background):
    """Reads /proc of one process every ``interval`` seconds while running."""

    pid: int
    interval: float = 0.2
    readings: list[ProcReading] = field(default_factory=list)

    def now(self) -> ProcReading:
        reading = read_proc(self.pid)
        self.readings.append(reading)
        return reading

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.now()
            await asyncio.sleep(self.interval)

    def between(self, start: float, end: float) -> list[ProcReading]:
        return [r for r in self.readings if start <= r.at <= end]


def machine_cpu() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in ticks, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def cpu_share(first: ProcReading, last: ProcReading) -> float:
    """Share of one core the process used between two readings (1.0 = a whole core)."""
    elapsed = last.at - first.at
    return (last.cpu_seconds - first.cpu_seconds) / elapsed if elapsed > 0 else 0.0


@dataclass
class LoopLag(_Background):
    """How late this process's event loop wakes a task that sleeps ``tick`` seconds: with the
    Discord double in this loop, this is how late the double reads what the bot sends."""

    tick: float = 0.005
    lags: list[tuple[float, float]] = field(default_factory=list)  # (at, seconds late)

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.tick)
            after = time.monotonic()
            self.lags.append((after, max(0.0, after - before - self.tick)))

    def between(self, start: float, end: float) -> list[float]:
        return [lag for at, lag in self.lags if start <= at <= end]


# -- subprocesses --------------------------------------------------------------------------


async def _end(process: asyncio.subprocess.Process, first: int = signal.SIGTERM) -> None:
    """Ends a process: ``first`` signal, then SIGKILL if it has not exited in time."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(first)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@dataclass(frozen=True)
class ModelServerHandle:
    base_url: str
    pid: int
    record: Path


@contextlib.asynccontextmanager
async def model_server(
    latency: float, record: Path, chunk_size: int = 16
) -> AsyncIterator[ModelServerHandle]:
    """``python -m tests.fakes.model_server`` in its own process, answering after ``latency``
    in stream chunks of ``chunk_size`` characters."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.model_server",
        "--port",
        "0",
        "--latency",
        str(latency),
        "--record",
        str(record),
        "--chunk-size",
        str(chunk_size),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        if not line.startswith(b"serving "):
            raise RuntimeError(f"the model server did not start: {line!r}")
        yield ModelServerHandle(line.split()[1].decode(), process.pid, record)
    finally:
        await _end(process)


@dataclass
class BotHandle:
    process: asyncio.subprocess.Process
    log_path: Path
    started_at: float
    ready_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_problems(self) -> list[str]:
        """Lines of the bot's log at WARNING or worse, and tracebacks.

        Left out: discord.py's "Can't keep up ... behind" right after a heartbeat. On loopback
        the ACK can arrive before discord.py's heartbeat thread has noted the send, so it
        measures the ACK against the previous send: about one heartbeat interval, not a lag.
        """
        keys = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback")
        return [
            line
            for line in self.log().splitlines()
            if any(k in line for k in keys) and not _heartbeat_race(line)
        ]

    def count_in_log(self, text: str) -> int:
        return self.log().count(text)


def _heartbeat_race(line: str) -> bool:
    match = re.search(r"Can't keep up, shard ID \d+ websocket is ([\d.]+)s behind", line)
    return match is not None and float(match.group(1)) >= HEARTBEAT_INTERVAL - 1


def bot_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The process environment without the caller's own LLM_/DISCORD_ settings, plus ours."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLM_", "DISCORD_", "OPENROUTER_", "DATABASE_"))
    }
    return keep | dict(settings)


@contextlib.asynccontextmanager
async def bot_process(
    settings: Mapping[str, str], workdir: Path, *, ready_timeout: float = 120.0
) -> AsyncIterator[BotHandle]:
    """``rapbattle run`` with ``settings`` as its environment, ready (it logged "Ready as") on
    entry; stopped with SIGINT (as Ctrl-C would) on exit."""
    log_path = workdir / f"bot-{int(time.time() * 1000)}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(RAPBATTLE),
            "run",
            env=bot_environment(settings),
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    handle = BotHandle(process, log_path, time.monotonic())
    try:
        deadline = time.monotonic() + ready_timeout
        while "Ready as" not in handle.log():
            if process.returncode is not None:
                raise RuntimeError(
                    f"the bot exited ({process.returncode}):\n{handle.log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot was not ready in {ready_timeout:g}s")
            await asyncio.sleep(0.05)
        handle.ready_at = time.monotonic()
        yield handle
    finally:
        await _end(process, signal.SIGINT)


async def settle(pid: int, *, quiet_share: float = 0.1, window: float = 1.0, limit: float = 120.0):
    """Waits until the process uses under ``quiet_share`` of a core over ``window`` seconds;
    returns how long that took (or ``limit``)."""
    started = time.monotonic()
    previous = read_proc(pid)
    while time.monotonic() - started < limit:
        await asyncio.sleep(window)
        current = read_proc(pid)
        if cpu_share(previous, current) < quiet_share:
            return time.monotonic() - started
        previous = current
    return limit


# -- profiling -----------------------------------------------------------------------------


def py_spy_path() -> str | None:
    found = VENV_BIN / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


@contextlib.asynccontextmanager
async def py_spy(pid: int, output: Path, rate: int = 100) -> AsyncIterator[None]:
    """``py-spy record`` attached to ``pid`` for the block (collapsed stacks in ``output``).

    Only samples of a thread holding the GIL count (``--gil``): the Python work, which the
    event loop's thread can only do one at a time, without the threads' idle waits.
    """
    binary = py_spy_path()
    if binary is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "--gil",
        "--output",
        str(output),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.sleep(1.0)  # py-spy attaches
        if process.returncode is not None:
            assert process.stderr is not None
            error = (await process.stderr.read()).decode(errors="replace")
            raise RuntimeError(f"py-spy could not attach: {error.strip()[-500:]}")
        yield
    finally:
        # SIGINT makes py-spy stop sampling and write what it has.
        await _end(process, signal.SIGINT)
