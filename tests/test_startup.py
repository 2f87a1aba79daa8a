"""Starting up: the container's settings, and one clear line (never a traceback) for every
failure at start."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from dotenv import dotenv_values

from bot.settings import Settings
from tests.fakes.discord_double import DiscordDouble

ROOT = Path(__file__).resolve().parents[1]
RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction in the Dockerfile (continuations joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        line.split(None, 1)[1]
        for line in text.splitlines()
        if line.split(None, 1)[:1] == [name] and len(line.split(None, 1)) == 2
    ]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in dockerfile_instructions("ENV"):
        for pair in shlex.split(arguments):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def docker_env_file(path: Path) -> dict[str, str]:
    """``docker run --env-file`` rules: '#' lines and blank lines are skipped, a line is
    NAME=VALUE taken literally (no quotes, no inline comments), even when VALUE is empty."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        if equals:
            env[key] = value
    return env


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    prefixes = ("LLM_", "OPENROUTER", "DISCORD_", "DATABASE_", "LOG_", "BATTLE_", "SHARD_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return base | extra


def rapbattle(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RAPBATTLE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_env_example_in_the_container_keeps_the_database_on_the_volume():
    env = image_env() | docker_env_file(ROOT / ".env.example")
    volumes = [path.strip("[]\" '") for path in dockerfile_instructions("VOLUME")]
    database_url = Settings.from_env(env).database_url
    assert database_url == "sqlite:////data/rapbattle.db"
    assert any(database_url.removeprefix("sqlite:///").startswith(v + "/") for v in volumes)


def test_env_example_outside_the_container_keeps_the_relative_default():
    # What load_settings reads from a .env copied from .env.example, in an empty environment.
    env = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    assert Settings.from_env(env).database_url == "sqlite:///data/rapbattle.db"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rules for the patterns used here: the last matching pattern wins
    ('!' re-includes), a pattern matches a path or any of its parent directories, '*' stays
    within one path segment and '**' spans any number."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_secrets_environments_data_and_caches_out():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for kept_out in (
        ".env",
        ".env.local",
        ".venv/bin/python",
        "data/rapbattle.db",
        "rapbattle.db",
        ".git/HEAD",
        "bot/__pycache__/cli.cpython-311.pyc",
        "cogs/__pycache__/battle.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
    ):
        assert dockerignored(kept_out, patterns), kept_out
    copied = [
        source for arguments in dockerfile_instructions("COPY") for source in arguments.split()[:-1]
    ]
    assert copied  # pyproject.toml README.md, bot, cogs
    for source in copied:
        assert not dockerignored(source, patterns), source
    for kept_in in ("bot/cli.py", "cogs/battle.py", ".env.example"):
        assert not dockerignored(kept_in, patterns), kept_in


def unopenable_database(tmp_path: Path) -> str:
    # A path under a regular file can be neither created nor opened, even by root (a
    # permission refusal would not stop root, who runs these tests in CI).
    (tmp_path / "not-a-directory").write_text("")
    return f"sqlite:///{tmp_path}/not-a-directory/rapbattle.db"


def test_migrate_with_an_unopenable_database_is_one_line(tmp_path):
    url = unopenable_database(tmp_path)
    done = rapbattle("migrate", env=clean_env(DATABASE_URL=url), cwd=tmp_path)
    assert done.returncode == 1
    assert re.fullmatch(
        rf"rapbattle: Cannot open the database {re.escape(url)}: .+\. Check DATABASE_URL and "
        r"that its directory is writable\.\n",
        done.stderr,
    ), done.stderr
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    url = f"sqlite:///{directory}"
    done = rapbattle("migrate", env=clean_env(DATABASE_URL=url), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        f"rapbattle: Cannot open the database {url}: unable to open database file. "
        "Check DATABASE_URL and that its directory is writable.\n"
    )


def test_copy_db_with_an_unopenable_database_is_one_line(tmp_path):
    source = f"sqlite:///{tmp_path}/source.db"
    destination = unopenable_database(tmp_path)
    done = rapbattle("copy-db", source, destination, env=clean_env(), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("rapbattle: Cannot open a database: ")
    assert done.stderr.endswith(". Check both URLs.\n") and done.stderr.count("\n") == 1


async def test_run_with_an_unopenable_database_is_one_line(tmp_path):
    url = unopenable_database(tmp_path)
    async with DiscordDouble() as double:
        double.add_guild("Rap Club").add_channel("battles")
        env = clean_env(
            DISCORD_TOKEN=double.token,
            DISCORD_API_BASE=double.api_base,
            DISCORD_GATEWAY_URL=double.gateway_url,
            LLM_API_KEY="k",
            LLM_BASE_URL=f"http://127.0.0.1:{closed_port()}/v1",
            DATABASE_URL=url,
            LOG_LEVEL="WARNING",
        )
        process = await asyncio.create_subprocess_exec(
            RAPBATTLE, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rapbattle: Cannot open the database {url}: ")


def test_discord_unreachable_at_start_is_one_line(tmp_path):
    port = closed_port()
    env = clean_env(
        DISCORD_TOKEN="token",
        DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/gateway",
        LLM_API_KEY="k",
        DATABASE_URL=f"sqlite:///{tmp_path}/rapbattle.db",
        LOG_LEVEL="WARNING",
    )
    done = rapbattle("run", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"rapbattle: Cannot reach Discord at http://127.0.0.1:{port}/api/v10: "
    )
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_bad_log_level_is_one_line_listing_the_levels(tmp_path):
    for command in (["run"], ["migrate"], ["local", "a", "b"]):
        done = rapbattle(*command, env=clean_env(LOG_LEVEL="verbose"), cwd=tmp_path)
        assert done.returncode == 1
        assert done.stderr == (
            "rapbattle: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
            "not 'verbose'.\n"
        )


def test_version():
    from importlib.metadata import version

    done = rapbattle("--version", env=clean_env(), cwd=ROOT)
    assert done.returncode == 0
    assert done.stdout == f"rapbattle {version('rapbattle')}\n"
    assert re.fullmatch(r"rapbattle \d+\.\d+\.\d+\S*\n", done.stdout)
