"""The async Botify API client: profile, analyses, URL counts per depth, export jobs, downloads.

Reads (GETs, and the BQL query POST, which only reads) are retried on 429 and 5xx with bounded
exponential backoff, honouring `Retry-After`. Creating an export job is never retried: Botify
has no idempotency key, and each job spends export credits.

The token travels only in the `Authorization` header, and only to the API's own origin (scheme,
host and port of `base_url`). Download links are fetched without it, even on that origin.
"""

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from pipulate.config import DEFAULT_API_BASE

from . import downloads
from .errors import (
    BadResponseError,
    BotifyError,
    ServerError,
    error_from_response,
)
from .models import Analysis, DownloadedFile, Job, Profile, parse

__all__ = [
    "DEFAULT_API_BASE",
    "DEFAULT_TIMEOUT",
    "DOWNLOAD_TIMEOUT",
    "FIELDS",
    "BotifyClient",
]

logger = logging.getLogger(__name__)

FIELDS = {
    "title": "metadata.title.content",
    "meta_description": "metadata.description.content",
    "h1": "metadata.h1.contents",
}
COMPRESSIONS = ("gzip", "zip")
EXPORT_SIZE = 1_000_000

# The depth query can take a minute on a big crawl. A download has no overall limit: it fails
# only when no byte arrives for a whole read timeout.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=90.0, write=30.0, pool=10.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0)

ANALYSES_PAGE_SIZE = 100
QUERY_PAGE_SIZE = 500
MAX_PAGES = 1000

_SLUG = re.compile(r"(\d{8})(?:-(\d+))?")


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    results: list[Any]
    next: str | None = None


class _QueryRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dimensions: list[Any]
    metrics: list[Any]


def check_token(token: str | None) -> str:
    """The token, trimmed; ValueError when it cannot be sent in a header as it is."""
    token = (token or "").strip()
    if not token or any(char.isspace() or not char.isprintable() for char in token):
        raise ValueError("The Botify token is empty or holds spaces or control characters; "
                         "give just the token, as Botify's account page shows it.")
    return token


class BotifyClient:
    """Talks to Botify (or the simulator) over one shared `httpx.AsyncClient`.

        async with BotifyClient(token, "http://127.0.0.1:5002/v1") as botify:
            analysis = (await botify.analyses("demo-org", "small-site"))[0]
            counts = await botify.depth_counts("demo-org", "small-site", analysis.slug)
            job = await botify.create_export(
                "demo-org", "small-site", analysis.slug, max_depth=3, fields=["title"]
            )
            while (job := await botify.job(job.ref)).is_pending:
                await asyncio.sleep(2)
            saved = await botify.download(job.download_url, Path("downloads/small-site.csv"))

    Pass `http=` to share the application's client; otherwise the client makes its own and
    closes it in `aclose()`. Failures raise the `BotifyError` tree of `pipulate.botify.errors`.
    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_BASE,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        download_timeout: httpx.Timeout = DOWNLOAD_TIMEOUT,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ):
        token = check_token(token)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"The Botify API base {base_url!r} is not an http(s) URL.")

        self.base_url = base_url.rstrip("/")
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._token = token
        self._owns_http = http is None
        self._http = httpx.AsyncClient(timeout=timeout) if http is None else http
        self._timeout = timeout
        self._download_timeout = download_timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._max_backoff = max_backoff

    def __repr__(self) -> str:
        return f"BotifyClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> "BotifyClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the HTTP client if this object made it; a shared one is left open."""
        if self._owns_http:
            await self._http.aclose()

    async def profile(self) -> Profile:
        """The token's owner; raises `AuthenticationError` for a bad token."""
        data = await self._read("GET", self._url("authentication", "profile"), "check the token")
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        return parse(Profile, data, "the token's profile")

    async def analyses(self, org: str, project: str) -> list[Analysis]:
        """Every successful analysis of the project, across all pages, newest first."""
        url = self._url("analyses", org, project, "light")
        params = {"page": 1, "size": ANALYSES_PAGE_SIZE, "only_success": "true"}
        items = await self._all_pages(
            "GET", url, params, None, f"list the analyses of {org}/{project}"
        )

        found: dict[str, Analysis] = {}
        for item in items:
            analysis = parse(Analysis, item, f"an analysis of {org}/{project}")
            if analysis.is_success:
                found.setdefault(analysis.slug, analysis)
        return sorted(found.values(), key=_newest_first, reverse=True)

    async def depth_counts(self, org: str, project: str, analysis: str) -> dict[int, int]:
        """URLs crawled per click depth, by depth; rows with a non-integer depth are skipped."""
        collection = f"crawl.{analysis}"
        body = {
            "collections": [collection],
            "query": {
                "dimensions": [f"{collection}.depth"],
                "metrics": [f"{collection}.count_urls_crawl"],
                "sort": [{"index": 0, "type": "dimensions", "order": "asc"}],
            },
        }
        url = self._url("projects", org, project, "query")
        params = {"size": QUERY_PAGE_SIZE, "page": 1}
        what = f"URL counts by depth for {org}/{project} {analysis}"
        items = await self._all_pages("POST", url, params, body, f"read the {what}")

        counts: dict[int, int] = {}
        for item in items:
            row = parse(_QueryRow, item, f"the {what}")
            depth = row.dimensions[0] if row.dimensions else None
            if not _is_whole(depth):
                continue
            count = row.metrics[0] if row.metrics else None
            if not _is_whole(count):
                raise BadResponseError(
                    f"Botify's answer about the {what} gives depth {depth} a count of "
                    f"{count!r}, not a whole number."
                )
            counts[depth] = counts.get(depth, 0) + count
        return dict(sorted(counts.items()))

    async def create_export(
        self,
        org: str,
        project: str,
        analysis: str,
        *,
        max_depth: int,
        fields: Sequence[str],
        compression: str = "gzip",
    ) -> Job:
        """Starts an export of URLs at depth <= `max_depth` with the chosen `FIELDS`.

        Never retried: if Botify fails or goes silent, the raised error says the job may
        or may not exist.
        """
        if not isinstance(max_depth, int) or isinstance(max_depth, bool) or max_depth < 0:
            raise ValueError(f"max_depth must be a whole number >= 0, not {max_depth!r}.")
        if isinstance(fields, str):
            raise ValueError(f"fields must be a list of names, not the string {fields!r}.")
        unknown = [name for name in fields if name not in FIELDS]
        if unknown:
            raise ValueError(f"Unknown export field(s) {unknown}; choose from {list(FIELDS)}.")
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}.")

        body = {"job_type": "export", "payload": _export_payload(
            org, project, analysis, max_depth, fields, compression
        )}
        action = f"create the export job for {org}/{project} {analysis}"
        data = await self._call("POST", self._url("jobs"), action, json=body, is_read=False)
        return parse(Job, data, "the new export job")

    async def job(self, job_url_or_id: str | int) -> Job:
        """The job's current state, from its `job_url` (relative or absolute) or its bare id."""
        url = self._job_url(job_url_or_id)
        data = await self._read("GET", url, "read the export job's status")
        return parse(Job, data, "the export job")

    async def download(
        self,
        url: str,
        target: Path,
        *,
        max_bytes: int = downloads.DEFAULT_MAX_BYTES,
        on_progress: downloads.ProgressCallback | None = None,
    ) -> DownloadedFile:
        """Fetches a finished export and leaves its CSV at `target` (see `downloads`).

        `max_bytes` caps the unpacked CSV; `on_progress(received, total_or_None)` is called
        with raw bytes received, at most ten times a second and once at the end.
        """
        return await downloads.fetch(
            self._http, url, Path(target), timeout=self._download_timeout,
            max_bytes=max_bytes, on_progress=on_progress,
        )

    def _url(self, *segments: str) -> str:
        return "/".join([self.base_url, *(quote(str(part), safe="") for part in segments)])

    def _job_url(self, ref: str | int) -> str:
        text = str(ref).strip()
        if not text:
            raise ValueError("A job URL or id is needed, not an empty string.")
        if "://" in text:
            if not self._is_api(text):
                raise ValueError(f"The job URL {text!r} is not on the API at {self._origin}.")
            return text
        if text.startswith("/"):
            return self._origin + text
        return self._url("jobs", text)

    def _is_api(self, url: str) -> bool:
        parts, api = httpx.URL(url), httpx.URL(self._origin)
        return (parts.scheme, parts.host, parts.port) == (api.scheme, api.host, api.port)

    async def _all_pages(
        self, method: str, url: str, params: dict | None, body: dict | None, action: str
    ) -> list[Any]:
        """Every `results` item of a paged list, following `next` until it is null."""
        items: list[Any] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            data = await self._read(method, url, action, params=params, json=body)
            page = parse(_Page, data, f"a page of results ({action})")
            items.extend(page.results)
            if not page.next:
                return items

            seen.add(str(httpx.URL(url, params=params)))
            url, params = str(httpx.URL(urljoin(url, page.next))), None
            if not self._is_api(url):
                raise BadResponseError(
                    f"Botify's next-page link leads off the API ({_origin_of(url)}); "
                    "it was not followed."
                )
            if url in seen:
                raise BadResponseError(f"Botify's next-page links loop back to {url!r}.")
        raise BadResponseError(f"Botify gave more than {MAX_PAGES} pages while trying to {action}.")

    async def _read(self, method: str, url: str, action: str, **kwargs: Any) -> Any:
        return await self._call(method, url, action, is_read=True, **kwargs)

    async def _call(
        self, method: str, url: str, action: str, *, is_read: bool, **kwargs: Any
    ) -> Any:
        """One API call: the request, retries for reads, errors translated, the JSON body."""
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        path = urlsplit(url).path
        for attempt in range(1, self._max_attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.request(
                    method, url, headers=headers, timeout=self._timeout,
                    follow_redirects=False, **kwargs,
                )
            except httpx.TransportError as exc:
                logger.info(
                    "%s %s failed after %d ms (%s).", method, path, _ms(started),
                    type(exc).__name__,
                )
                error = self._transport_error(exc, action, is_read)
                if is_read and attempt < self._max_attempts and _is_transient(exc):
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                raise error from None

            logger.info("%s %s answered %d in %d ms.", method, path, response.status_code,
                        _ms(started))
            status = response.status_code
            if response.is_success:
                return self._json(response, action)
            retryable = status == 429 or status >= 500
            if is_read and retryable and attempt < self._max_attempts:
                await asyncio.sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            raise self._failure(response, action, is_read, attempt) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _json(self, response: httpx.Response, action: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise BadResponseError(
                f"Botify's answer when trying to {action} is not JSON "
                f"(HTTP {response.status_code}, {response.headers.get('Content-Type')!r})."
            ) from None

    def _failure(
        self, response: httpx.Response, action: str, is_read: bool, attempts: int
    ) -> BotifyError:
        status = response.status_code
        if response.is_redirect:
            return BadResponseError(
                f"Botify answered a redirect (HTTP {status}) when trying to {action}; "
                "it was not followed, to keep the token on the API host.",
                status=status,
            )
        error = error_from_response(response, action)
        message = error.message
        if not is_read and status >= 500:
            message += " The job may or may not exist: check Botify before trying again."
        elif attempts > 1:
            message += f" Gave up after {attempts} attempts."
        return type(error)(self._scrub(message), error_code=error.error_code, status=status)

    def _transport_error(
        self, exc: httpx.TransportError, action: str, is_read: bool
    ) -> ServerError:
        where, kind = self._origin, type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            message = f"Could not reach Botify at {where} to {action} ({kind})."
            return ServerError(message if is_read else message + " No job was created.")
        if isinstance(exc, httpx.TimeoutException):
            message = f"Botify at {where} did not answer in time when trying to {action}."
        else:
            message = f"The connection to Botify at {where} broke when trying to {action}."
        if not is_read:
            message += " The job may or may not exist: check Botify before trying again."
        return ServerError(message)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before the next attempt: Retry-After when given, else jittered backoff."""
        asked = _seconds(retry_after)
        if asked is None:
            asked = self._backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
        return min(max(asked, 0.0), self._max_backoff)

    def _scrub(self, text: str) -> str:
        """Hides the token should Botify echo it back in a message.

        A token too short to be real is left alone: hiding "tok" would garble "token".
        """
        if len(self._token) < 8:
            return text
        return text.replace(self._token, "[token]")


def _export_payload(
    org: str, project: str, analysis: str, max_depth: int, fields: Sequence[str], compression: str
) -> dict[str, Any]:
    prefix = f"crawl.{analysis}"
    chosen = [FIELDS[name] for name in FIELDS if name in fields]
    payload: dict[str, Any] = {
        "username": org,
        "project": project,
        "connector": "direct_download",
        "formatter": "csv",
        "export_size": EXPORT_SIZE,
        "formatter_config": {"print_header": True},
        "query": {
            "collections": [prefix],
            "query": {
                "dimensions": [f"{prefix}.url", *(f"{prefix}.{field}" for field in chosen)],
                "metrics": [],
                "sort": [{"index": 0, "type": "dimensions", "order": "asc"}],
                "filters": {"field": f"{prefix}.depth", "predicate": "lte", "value": max_depth},
            },
        },
    }
    if compression == "zip":
        payload["extra_config"] = {"filetype": "zip"}
    return payload


def _newest_first(analysis: Analysis) -> tuple:
    """Sort key: the slug's date and same-day counter, then the finish time."""
    match = _SLUG.fullmatch(analysis.slug)
    moment = analysis.date_finished or analysis.date_launched
    if match:
        day, counter = match.group(1), int(match.group(2) or 1)
    else:
        day, counter = moment.strftime("%Y%m%d") if moment else "", 0
    finished = moment.timestamp() if moment else 0.0
    return day, counter, finished, analysis.slug


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_transient(exc: httpx.TransportError) -> bool:
    """Worth another try: the request never got an answer, but not because Botify was slow."""
    return not isinstance(exc, httpx.TimeoutException) or isinstance(exc, httpx.ConnectTimeout)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date (RFC 9110, section 10.2.3)."""
    if not retry_after:
        return None
    try:
        return float(retry_after)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
