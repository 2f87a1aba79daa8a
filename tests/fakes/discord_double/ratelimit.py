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

    def give_back(self) -> None:
        self.used = max(self.used - 1, 0)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float


BucketKey = tuple[str, str, str]  # (method, route, major parameter)


class RateLimiter:
    """Buckets for every route; ``default`` is (requests, seconds) or None (no headers).

    Channel webhooks are limited twice, like on Discord: per webhook (``webhook``) and per
    channel across all its webhooks (``webhook_channel``). Tests can also script 429s
    (:meth:`inject`), answered exactly like a real one.
    """

    def __init__(
        self,
        default: tuple[int, float] | None,
        *,
        webhook: tuple[int, float] | None = None,
        webhook_channel: tuple[int, float] | None = None,
    ) -> None:
        self._default = default
        self._webhook = webhook
        self._webhook_channel = webhook_channel
        self._configured: dict[BucketKey, tuple[int, float]] = {}
        self._buckets: dict[BucketKey, Bucket] = {}
        self._injected: dict[BucketKey, list[float]] = {}

    def configure(self, method: str, route: str, major: str, limit: int, window: float) -> None:
        key = (method, route, major)
        self._configured[key] = (limit, window)
        self._buckets.pop(key, None)

    def inject(
        self, method: str, route: str, major: str, *, count: int = 1, retry_after: float = 0.25
    ) -> None:
        """Answer the next ``count`` requests to this bucket with 429 (``retry_after`` s)."""
        self._injected.setdefault((method, route, major), []).extend([retry_after] * count)

    def check(self, method: str, route: str, major: str) -> Decision:
        key = (method, route, major)
        if injected := self._take_injected(key):
            return injected
        settings = self._configured.get(key, self._default)
        if settings is None:
            return Decision(True, {}, 0.0)
        bucket = self._bucket(key, settings)
        now = time.monotonic()
        return _decide(key, bucket, bucket.take(now), now)

    def check_webhook(self, method: str, route: str, major: str, channel_id: int) -> Decision:
        """A channel webhook's execute: its own bucket and its channel's must both allow it.

        The headers describe whichever bucket is nearer to refusing (the one that refused).
        """
        key = (method, route, major)
        if injected := self._take_injected(key):
            return injected
        limits: list[tuple[BucketKey, tuple[int, float]]] = []
        own = self._configured.get(key, self._webhook)
        if own is not None:
            limits.append((key, own))
        channel_key = ("POST", "webhook executes in channel", str(channel_id))
        shared = self._configured.get(channel_key, self._webhook_channel)
        if shared is not None:
            limits.append((channel_key, shared))
        now = time.monotonic()
        decisions: list[Decision] = []
        taken: list[Bucket] = []
        for bucket_key, settings in limits:
            bucket = self._bucket(bucket_key, settings)
            allowed = bucket.take(now)
            decisions.append(_decide(bucket_key, bucket, allowed, now))
            if not allowed:
                for earlier in taken:
                    earlier.give_back()  # a refused request uses up no bucket
                return decisions[-1]
            taken.append(bucket)
        if not decisions:
            return Decision(True, {}, 0.0)
        return min(decisions, key=lambda d: int(d.headers["X-RateLimit-Remaining"]))

    def _bucket(self, key: BucketKey, settings: tuple[int, float]) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(*settings)
        return bucket

    def _take_injected(self, key: BucketKey) -> Decision | None:
        queue = self._injected.get(key)
        if not queue:
            return None
        retry_after = queue.pop(0)
        bucket = Bucket(1, retry_after, used=1, resets_at=time.monotonic() + retry_after)
        return _decide(key, bucket, False, time.monotonic())


def _decide(key: BucketKey, bucket: Bucket, allowed: bool, now: float) -> Decision:
    method, route, _ = key
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
