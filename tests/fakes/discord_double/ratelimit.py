"""Per-route rate-limit buckets with Discord's headers and 429 answers.

A bucket is (method, route, major parameter) with a fixed window that starts at its first
request, like Discord's. Every answer carries ``X-RateLimit-*`` headers, so discord.py
limits itself pre-emptively; a 429 is only served when something else (another process,
another client) used the same bucket.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

RATE_LIMITED_MESSAGE = "You are being rate limited."


def _ceil_ms(seconds: float) -> float:
    # Rounded up so a client sleeping Reset-After never comes back early.
    return math.ceil(seconds * 1000) / 1000


@dataclass
class Bucket:
    limit: int
    window: float
    used: int = 0
    resets_at: float = 0.0

    def take(self, now: float) -> bool:
        if now >= self.resets_at:
            self.used = 0
            self.resets_at = now + self.window
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float


class RateLimiter:
    """Buckets for every route; ``default`` is (requests, seconds) or None (no headers)."""

    def __init__(self, default: tuple[int, float] | None) -> None:
        self._default = default
        self._configured: dict[tuple[str, str, str], tuple[int, float]] = {}
        self._buckets: dict[tuple[str, str, str], Bucket] = {}

    def configure(self, method: str, route: str, major: str, limit: int, window: float) -> None:
        key = (method, route, major)
        self._configured[key] = (limit, window)
        self._buckets.pop(key, None)

    def check(self, method: str, route: str, major: str) -> Decision:
        key = (method, route, major)
        settings = self._configured.get(key, self._default)
        if settings is None:
            return Decision(True, {}, 0.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(*settings)
        now = time.monotonic()
        allowed = bucket.take(now)
        reset_after = _ceil_ms(max(bucket.resets_at - now, 0.0))
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.limit - bucket.used),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(f"{method} {route}".encode()).hexdigest()[:32],
        }
        if not allowed:
            headers.update(
                {
                    "X-RateLimit-Scope": "user",
                    "Retry-After": str(math.ceil(reset_after)),
                    # discord.py treats a 429 without Via as a Cloudflare ban and gives up.
                    "Via": "1.1 google",
                }
            )
        return Decision(allowed, headers, reset_after)
