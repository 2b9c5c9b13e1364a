"""Switchable faults, the per-operation rate limiter and the request log of one simulator."""

import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, fields

RATE_LIMIT_PER_SECOND = 5


@dataclass
class Faults:
    rate_limit: bool = True
    retry_after: bool = True
    error_burst: int = 0
    slow_seconds: float = 0.0
    fail_jobs: bool = False
    expire_downloads: bool = False
    truncate_downloads: bool = False
    revoked: bool = False
    redirect_downloads: bool = False
    null_depth_row: bool = False
    stored_gzip: bool = False

    def update(self, changes: dict) -> None:
        """Merge changes in; ValueError names an unknown key or a value of the wrong type."""
        known = {item.name: item.type for item in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"Unknown fault {key!r}; known faults: {', '.join(known)}.")
            kind = known[key]
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"Fault {key!r} takes true or false, not {value!r}.")
            if kind is not bool and not is_number:
                raise ValueError(f"Fault {key!r} takes a number, not {value!r}.")
            setattr(self, key, kind(value))

    def as_dict(self) -> dict:
        return asdict(self)


class RateLimiter:
    """Lets through at most `limit` requests per second for each (operation, token) pair.

    Only requests that were let through count, so a client that waits one second always gets in.
    """

    def __init__(self, limit: int = RATE_LIMIT_PER_SECOND, window: float = 1.0):
        self.limit, self.window = limit, window
        self.recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def allow(self, operation: str, token: str) -> bool:
        now = time.monotonic()
        stamps = self.recent[(operation, token)]
        while stamps and now - stamps[0] >= self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        return True

    def clear(self) -> None:
        self.recent.clear()
