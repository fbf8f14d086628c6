"""Rate limits per project (or per client address when no keys are set), with Groq's
headers.

The budgets belong to a key's project, not to the key: a team's rotated keys, or its
staging and production keys, share one budget, as OpenAI's project limits do.

Three budgets, each in the `limits` library's notation (`60/minute`, `7200/hour`):
requests on every API route, audio seconds on transcription and translation, and input
characters on speech. Counted in memory, or in Redis when several replicas behind one
load balancer must share one limit (`storage_uri`). Fixed windows: a budget resets at
the end of its window, which the `x-ratelimit-reset-*` headers and `retry-after` say.
Audio seconds are known only once the audio is decoded, so a transcription is admitted
while its budget has anything left and charged its length when it is done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from audio.errors import RateLimited

Budget = Literal["requests", "audio-seconds", "characters"]
BUDGETS: tuple[Budget, ...] = ("requests", "audio-seconds", "characters")
"""Each budget's name, as it appears in its headers (`x-ratelimit-limit-<name>`)."""


@dataclass(frozen=True)
class Quotas:
    """The budgets of one client (a budget that is absent is unlimited)."""

    items: Mapping[Budget, RateLimitItem] = field(default_factory=dict)
    """Budget -> its amount per window."""

    @classmethod
    def parse(cls, **budgets: str | None) -> Quotas:
        """`Quotas.parse(requests="60/minute", audio_seconds=None, characters=...)`."""
        items = {
            name: parse(text)
            for name in BUDGETS
            if (text := budgets.get(name.replace("-", "_"))) is not None
        }
        return cls(items)


PROJECT_PREFIX = "project:"


def client_identity(project: str | None, address: str | None) -> str:
    """Who a request counts against: its key's project (with keys configured) or its
    address. Never the key, nor a digest of it."""
    if project:
        return PROJECT_PREFIX + project
    return "addr:" + (address or "unknown")


def duration_text(seconds: float) -> str:
    """Groq's reset format: `2m59.56s`, `7.66s`."""
    seconds = max(0.0, seconds)
    minutes, rest = divmod(seconds, 60.0)
    if minutes >= 1:
        return f"{int(minutes)}m{rest:.2f}s"
    return f"{rest:.2f}s"


class RateLimiter:
    """The budgets of every client, in one storage."""

    def __init__(
        self, defaults: Quotas, per_project: Mapping[str, Quotas], storage_uri: str = "memory://"
    ) -> None:
        self.defaults = defaults
        self.per_project = dict(per_project)
        """Project -> its own quotas (budgets it leaves out use the defaults)."""
        scheme, _, rest = storage_uri.partition("://")
        options = {"implementation": "redispy"} if scheme in ("redis", "rediss") else {}
        self._storage = storage_from_string(f"async+{scheme}://{rest}", **options)
        self._limiter = FixedWindowRateLimiter(self._storage)

    def quota(self, identity: str, budget: Budget) -> RateLimitItem | None:
        own = self.per_project.get(identity.removeprefix(PROJECT_PREFIX))
        if own is not None and budget in own.items:
            return own.items[budget]
        return self.defaults.items.get(budget)

    async def take(self, identity: str, budget: Budget, cost: int, headers: dict[str, str]) -> None:
        """Spend `cost` of a budget (0: only check that something is left); fill in its
        headers; raise RateLimited when the budget cannot cover it."""
        item = self.quota(identity, budget)
        if item is None:
            return
        if cost > 0:
            allowed = await self._limiter.hit(item, identity, budget, cost=cost)
        else:
            allowed = await self._limiter.test(item, identity, budget)
        stats = await self._limiter.get_window_stats(item, identity, budget)
        wait = stats.reset_time - time.time()
        headers[f"x-ratelimit-limit-{budget}"] = str(item.amount)
        headers[f"x-ratelimit-remaining-{budget}"] = str(max(0, stats.remaining))
        headers[f"x-ratelimit-reset-{budget}"] = duration_text(wait)
        if not allowed:
            raise RateLimited(budget, max(1, math.ceil(wait)))

    async def charge(self, identity: str, budget: Budget, cost: float) -> None:
        """Count work already done (audio seconds once decoded); never refuses."""
        item = self.quota(identity, budget)
        if item is not None and cost > 0:
            await self._limiter.hit(item, identity, budget, cost=math.ceil(cost))
