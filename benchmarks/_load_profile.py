"""Reading py-spy's collapsed stacks ("frame;frame;frame count" lines) into hot spots."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_PROJECT = ("bot/", "cogs/")
_PLUMBING = ("asyncio/", "runpy.py", "threading.py", "concurrent/futures/thread.py")
_TASK_STEP = "asyncio/events.py:Handle._run"  # what the event loop calls to run a task's step


@dataclass(frozen=True, slots=True)
class Hot:
    where: str
    samples: int
    share: float  # of all samples


@dataclass(frozen=True)
class Profile:
    samples: int
    by_task: list[Hot]  # task (or thread) → innermost project function under it
    by_package: list[Hot]  # samples with the package anywhere under the task
    by_total: list[Hot]  # functions under the task (inclusive)
    by_self: list[Hot]  # where the interpreter was


def short_file(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def frame_name(frame: str, *, with_line: bool = False) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    name = f"{short_file(match['file'])}:{match['function']}"
    return f"{name}:{match['line']}" if with_line and match["line"] else name


def package(name: str) -> str:
    """'openai/_models.py:construct_type' → 'openai'; the project's files by folder."""
    head = name.split(":", 1)[0]
    return head.split("/", 1)[0] if "/" in head else head.removesuffix(".py")


def task_frames(names: list[str]) -> list[str]:
    """The frames of one sample below the event loop (or the thread's plumbing): what the
    running task or thread was doing."""
    if _TASK_STEP in names:
        return names[names.index(_TASK_STEP) + 1 :] or names[-1:]
    outer = [i for i, name in enumerate(names) if name.startswith(_PLUMBING)]
    start = outer[-1] + 1 if outer and outer[-1] + 1 < len(names) else len(names) - 1
    return names[start:]


def task_path(frames: list[str]) -> str:
    """'task → innermost project function' (just the task when none of ours is under it)."""
    root = frames[0]
    project = [name for name in frames[1:] if name.startswith(_PROJECT)]
    return f"{root} → {project[-1]}" if project else root


def read_profile(path: Path, top: int = 15) -> Profile:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(count for _, count in stacks) or 1
    counters: dict[str, Counter[str]] = {
        key: Counter() for key in ("task", "package", "total", "self")
    }
    for raw, count in stacks:
        frames = task_frames([frame_name(f) for f in raw])
        counters["task"][task_path(frames)] += count
        for name in {package(f) for f in frames}:
            counters["package"][name] += count
        for name in set(frames):
            counters["total"][name] += count
        counters["self"][frame_name(raw[-1], with_line=True)] += count

    def hot(key: str) -> list[Hot]:
        return [Hot(name, n, n / total) for name, n in counters[key].most_common(top)]

    return Profile(total, hot("task"), hot("package"), hot("total"), hot("self"))


def render(profile: Profile) -> list[str]:
    lines = [f"{profile.samples} samples of the bot process holding the GIL (Python at work)"]
    for title, rows in (
        ("Hot paths (task or thread → innermost project function):", profile.by_task),
        ("By package (samples with it anywhere under the task):", profile.by_package),
        ("Most time on the stack (inclusive, under the task):", profile.by_total),
        ("Most time executing (self):", profile.by_self),
    ):
        lines += ["", title]
        lines += [f"  {100 * h.share:5.1f}%  {h.where}" for h in rows]
    return lines
