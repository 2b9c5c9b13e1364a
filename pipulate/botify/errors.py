"""What can go wrong when talking to Botify, as one small exception tree.

    BotifyError                 anything below; also a 4xx Botify answered with no better class
    ├── AuthenticationError     the token is missing, wrong, regenerated or lacks permission
    ├── NotFoundError           no such project, analysis or job
    ├── RateLimitedError        too many requests, still refused after backing off
    ├── ServerError             Botify failed (5xx), answered too late, or was unreachable
    ├── BadResponseError        an answer we cannot read: not JSON, or a required key missing
    ├── JobFailedError          the export job ended FAILED
    └── DownloadError           the export file: link expired, truncated, too big, bad archive

Every exception carries `status` (the HTTP status, or None), `error_code` (Botify's code, or
None) and `message`, and `str(e)` is a sentence a user can read. No message ever holds the token.
"""

from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "BadResponseError",
    "BotifyError",
    "DownloadError",
    "JobFailedError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "error_from_response",
]


class BotifyError(Exception):
    """Base class: a sentence for the user, plus Botify's error code and the HTTP status."""

    def __init__(self, message: str, *, error_code: str | None = None, status: int | None = None):
        self.message = message
        self.error_code = error_code
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, error_code={self.error_code!r}, "
            f"status={self.status!r})"
        )


class AuthenticationError(BotifyError):
    """Botify refused the token (401, or 403 with a permission error)."""

    def __str__(self) -> str:
        return (f"{self.message} Check the token in BOTIFY_API_TOKEN or botify_token.txt, "
                "then restart Pipulate.")


class NotFoundError(BotifyError):
    """The project, analysis or job does not exist, or the token cannot see it."""


class RateLimitedError(BotifyError):
    """Botify kept answering 429 after every retry."""


class ServerError(BotifyError):
    """Botify answered 5xx, took too long, or could not be reached at all."""


class BadResponseError(BotifyError):
    """Botify answered, but not in the shape the API contract promises."""


class JobFailedError(BotifyError):
    """An export job ended FAILED, or DONE without a file to download."""


class DownloadError(BotifyError):
    """The export file could not be fetched or unpacked; no partial file is left behind."""


_CLASS_BY_CODE: dict[str, type[BotifyError]] = {
    "1001": AuthenticationError,
    "1002": AuthenticationError,
    "1004": NotFoundError,
    "1010": NotFoundError,
    "1053": RateLimitedError,
    "1060": JobFailedError,
}

_CLASS_BY_STATUS: dict[int, type[BotifyError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    429: RateLimitedError,
}


def error_from_response(response: httpx.Response, action: str) -> BotifyError:
    """Builds the exception for a failed answer; `action` says what we were doing."""
    status = response.status_code
    code, detail = _error_body(response)
    cls = _CLASS_BY_CODE.get(code or "") or _CLASS_BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else BotifyError

    reason = f"error {code}: {detail}" if code and detail else detail or f"error {code}"
    if not code and not detail:
        reason = response.reason_phrase or "no details given"
    message = f"Botify refused to {action} (HTTP {status}, {reason})."
    if cls is ServerError:
        message = f"Botify failed to {action} (HTTP {status}, {reason})."
    return cls(message, error_code=code, status=status)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """Reads Botify's `{"error": {"error_code": ..., "message": ...}}`, tolerating anything."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("error_code")
    detail = error.get("message")
    code = str(code) if code is not None else None
    detail = " ".join(str(detail).split())[:300].rstrip(".") if detail else None
    return code, detail
