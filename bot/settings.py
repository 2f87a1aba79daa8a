"""Settings: one frozen object, read from the environment here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dotenv import load_dotenv

from bot.engine.battle import DEFAULT_ROUNDS, MAX_ROUNDS, MIN_ROUNDS
from bot.engine.pacing import Pace
from bot.engine.verdicts import DEFAULT_PANEL, parse_judge_list
from bot.engine.votes import DEFAULT_VOTE_SECONDS, MAX_VOTE_SECONDS, MIN_VOTE_SECONDS
from bot.errors import ConfigError, InvalidBattle

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_DATABASE_URL = "sqlite:///data/rapbattle.db"
DEFAULT_APP_URL = "https://github.com/rapbattle/rapbattle"
DEFAULT_APP_TITLE = "rapbattle"
DEFAULT_TTS_MODEL = "gpt-4o-mini-tts"
DEFAULT_BEAT_BPM = 90.0
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"

T = TypeVar("T")
AUTO_PACE = Pace(None)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("TEXT", "JSON")


@dataclass(frozen=True, slots=True)
class Settings:
    llm_base_url: str = OPENROUTER_BASE_URL
    llm_api_key: str | None = None
    llm_max_tokens: int = 700
    llm_timeout_seconds: float = 120.0
    llm_stall_seconds: float = 30.0
    llm_max_attempts: int = 3
    llm_app_url: str = DEFAULT_APP_URL
    llm_app_title: str = DEFAULT_APP_TITLE
    model_aliases: Mapping[str, str] = field(default_factory=dict)
    battle_rounds: int = DEFAULT_ROUNDS
    battle_pace: Pace = AUTO_PACE
    vote_seconds: int = DEFAULT_VOTE_SECONDS
    battle_cooldown_seconds: float = 30.0
    max_battles_per_server: int = 3
    discord_token: str | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    dev_guild_id: int | None = None
    database_url: str = DEFAULT_DATABASE_URL
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # "json": one JSON object a line (bot/ops/logs.py)
    model_avatar_url: str | None = None
    # The default judges' panel, as typed: each is resolved through the catalog when used.
    judge_models: tuple[str, ...] = DEFAULT_PANEL
    web_host: str = "127.0.0.1"  # the address the web arena listens on
    web_port: int | None = None  # serve the web arena from inside `rapbattle run`
    metrics_host: str = "127.0.0.1"  # the address /metrics listens on (METRICS_PORT)
    metrics_port: int | None = None  # serve /metrics from `rapbattle run` on this port
    public_url: str | None = None  # where people reach the web arena, for links to it
    # Battle tracks: an OpenAI-compatible speech endpoint, or (without TTS_BASE_URL) espeak-ng.
    tts_base_url: str | None = None
    tts_api_key: str | None = None
    tts_model: str = DEFAULT_TTS_MODEL
    tts_voices: tuple[str, ...] | None = None  # None: the engine's own list
    tts_host_voice: str | None = None  # None: the engine's own host
    tts_speed: float | None = None  # the endpoint's delivery speed (its default when None)
    beat: bool = True  # BEAT=off leaves the voices alone
    beat_bpm: float = DEFAULT_BEAT_BPM
    beat_file: Path | None = None  # a WAV or Ogg loop instead of the drum loop made in code
    # The content filter: an OpenAI-compatible moderation endpoint, or (without
    # MODERATION_BASE_URL) the offline word list alone.
    moderation_base_url: str | None = None
    moderation_api_key: str | None = None
    moderation_model: str = DEFAULT_MODERATION_MODEL
    # Battles performed live in voice channels at once by this process (0: none).
    max_voice_battles: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of environment variables; raises ConfigError."""
        reader = _Reader(env)
        return cls(
            llm_base_url=reader.text("LLM_BASE_URL", OPENROUTER_BASE_URL).rstrip("/"),
            llm_api_key=reader.optional("LLM_API_KEY") or reader.optional("OPENROUTER_API_KEY"),
            llm_max_tokens=reader.number("LLM_MAX_TOKENS", 700, int, low=16, high=32_000),
            llm_timeout_seconds=reader.number("LLM_TIMEOUT_SECONDS", 120.0, float, 1, 3600),
            llm_stall_seconds=reader.number("LLM_STALL_SECONDS", 30.0, float, 0.1, 3600),
            llm_max_attempts=reader.number("LLM_MAX_ATTEMPTS", 3, int, low=1, high=10),
            llm_app_url=reader.text("LLM_APP_URL", DEFAULT_APP_URL),
            llm_app_title=reader.text("LLM_APP_TITLE", DEFAULT_APP_TITLE),
            model_aliases=reader.aliases("MODEL_ALIASES"),
            battle_rounds=reader.number(
                "BATTLE_ROUNDS", DEFAULT_ROUNDS, int, MIN_ROUNDS, MAX_ROUNDS
            ),
            battle_pace=reader.pace("BATTLE_PACE"),
            vote_seconds=reader.number(
                "VOTE_SECONDS", DEFAULT_VOTE_SECONDS, int, MIN_VOTE_SECONDS, MAX_VOTE_SECONDS
            ),
            battle_cooldown_seconds=reader.number(
                "BATTLE_COOLDOWN_SECONDS", 30.0, float, 0, 86_400
            ),
            max_battles_per_server=reader.number("MAX_BATTLES_PER_SERVER", 3, int, 1, 100),
            discord_token=reader.optional("DISCORD_TOKEN"),
            discord_api_base=reader.optional("DISCORD_API_BASE"),
            discord_gateway_url=reader.optional("DISCORD_GATEWAY_URL"),
            dev_guild_id=reader.snowflake("DEV_GUILD_ID"),
            database_url=reader.text("DATABASE_URL", DEFAULT_DATABASE_URL),
            **reader.shards("SHARD_COUNT", "SHARD_IDS"),
            log_level=reader.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
            log_format=reader.choice("LOG_FORMAT", "TEXT", LOG_FORMATS).lower(),
            model_avatar_url=reader.optional("MODEL_AVATAR_URL"),
            judge_models=reader.judges("JUDGE_MODELS"),
            web_host=reader.text("WEB_HOST", "127.0.0.1"),
            web_port=reader.number("WEB_PORT", None, int, 1, 65_535),
            metrics_host=reader.text("METRICS_HOST", "127.0.0.1"),
            metrics_port=reader.number("METRICS_PORT", None, int, 1, 65_535),
            public_url=(reader.optional("PUBLIC_URL") or "").rstrip("/") or None,
            tts_base_url=(reader.optional("TTS_BASE_URL") or "").rstrip("/") or None,
            tts_api_key=reader.optional("TTS_API_KEY"),
            tts_model=reader.text("TTS_MODEL", DEFAULT_TTS_MODEL),
            tts_voices=parse_judge_list(reader.optional("TTS_VOICES") or "") or None,
            tts_host_voice=reader.optional("TTS_HOST_VOICE"),
            tts_speed=reader.number("TTS_SPEED", None, float, 0.25, 4.0),
            beat=reader.switch("BEAT", True),
            beat_bpm=reader.number("BEAT_BPM", DEFAULT_BEAT_BPM, float, 40, 240),
            beat_file=Path(raw_beat) if (raw_beat := reader.optional("BEAT_FILE")) else None,
            moderation_base_url=(reader.optional("MODERATION_BASE_URL") or "").rstrip("/") or None,
            moderation_api_key=reader.optional("MODERATION_API_KEY"),
            moderation_model=reader.text("MODERATION_MODEL", DEFAULT_MODERATION_MODEL),
            max_voice_battles=reader.number("MAX_VOICE_BATTLES", 4, int, 0, 64),
        )


def require_discord(settings: Settings) -> None:
    """What ``rapbattle run`` cannot start without, named."""
    missing = [
        name
        for name, value in (
            ("DISCORD_TOKEN", settings.discord_token),
            ("LLM_API_KEY (or OPENROUTER_API_KEY)", settings.llm_api_key),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"Missing setting: {' and '.join(missing)}. See .env.example.")


def load_settings(env_file: Path | None = None) -> Settings:
    """Settings from the process environment, after loading ``.env`` (which never overrides)."""
    load_dotenv(env_file or Path.cwd() / ".env", override=False)
    return Settings.from_env(os.environ)


@dataclass(frozen=True, slots=True)
class _Reader:
    env: Mapping[str, str]

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def number(
        self, name: str, default: T, parse: Callable[[str], T], low: float, high: float
    ) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not '{raw}'.") from None
        if not low <= value <= high:  # type: ignore[operator]
            raise ConfigError(f"{name} must be between {low:g} and {high:g}, not {raw}.")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        """One of ``allowed`` (given in upper case), in any case."""
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.upper() not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not '{raw}'.")
        return raw.upper()

    def switch(self, name: str, default: bool) -> bool:
        """``on`` or ``off`` (also true/false, yes/no, 1/0), in any case."""
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in ("on", "true", "yes", "1"):
            return True
        if raw.lower() in ("off", "false", "no", "0"):
            return False
        raise ConfigError(f"{name} must be on or off, not '{raw}'.")

    def snowflake(self, name: str) -> int | None:
        raw = self.optional(name)
        if raw is None:
            return None
        if not raw.isdigit():
            raise ConfigError(f"{name} must be a Discord id (digits only), not '{raw}'.")
        return int(raw)

    def shards(self, count_name: str, ids_name: str) -> dict[str, object]:
        """This process's shards: all of SHARD_COUNT, or the SHARD_IDS among them."""
        raw_ids = self.optional(ids_name)
        if self.optional(count_name) is None:
            if raw_ids is not None:
                raise ConfigError(f"{ids_name} needs {count_name} too.")
            return {"shard_count": None, "shard_ids": None}
        count = self.number(count_name, 1, int, 1, 10_000)
        if raw_ids is None:
            return {"shard_count": count, "shard_ids": None}
        try:
            ids = tuple(int(part) for part in raw_ids.split(",") if part.strip())
        except ValueError:
            raise ConfigError(
                f"{ids_name} takes shard numbers like 0,1, not '{raw_ids}'."
            ) from None
        if not ids or len(set(ids)) != len(ids) or not all(0 <= i < count for i in ids):
            raise ConfigError(
                f"{ids_name} must list distinct shards from 0 to {count - 1}, not '{raw_ids}'."
            )
        return {"shard_count": count, "shard_ids": ids}

    def pace(self, name: str) -> Pace:
        raw = self.optional(name)
        if raw is None:
            return AUTO_PACE
        try:
            return Pace.parse(raw)
        except InvalidBattle as error:
            raise ConfigError(f"{name}: {error}") from None

    def judges(self, name: str) -> tuple[str, ...]:
        """Comma-separated model names; unset means the default panel."""
        raw = self.optional(name)
        if raw is None:
            return DEFAULT_PANEL
        judges = parse_judge_list(raw)
        if not judges:
            raise ConfigError(f"{name} takes model ids separated by commas, not '{raw}'.")
        return judges

    def aliases(self, name: str) -> dict[str, str]:
        """``short=vendor/model`` pairs separated by commas."""
        raw = self.optional(name)
        aliases: dict[str, str] = {}
        for pair in (raw or "").split(","):
            if not pair.strip():
                continue
            alias, equals, model_id = (part.strip() for part in pair.partition("="))
            if not equals or not alias or not model_id:
                raise ConfigError(f"{name} takes alias=model_id pairs, not '{pair.strip()}'.")
            aliases[alias.lower()] = model_id
        return aliases
