"""Botify: the API client, its models and errors, export downloads, and pure helpers."""

from .client import DEFAULT_API_BASE, FIELDS, BotifyClient
from .errors import (
    AuthenticationError,
    BadResponseError,
    BotifyError,
    DownloadError,
    JobFailedError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from .models import Analysis, DownloadedFile, Job, Profile

__all__ = [
    "DEFAULT_API_BASE",
    "FIELDS",
    "Analysis",
    "AuthenticationError",
    "BadResponseError",
    "BotifyClient",
    "BotifyError",
    "DownloadError",
    "DownloadedFile",
    "Job",
    "JobFailedError",
    "NotFoundError",
    "Profile",
    "RateLimitedError",
    "ServerError",
]
