"""Fetch an export file and unpack it into place, in constant memory whatever its size.

The body streams from the socket into one worker thread that sniffs the format by its first
bytes (gzip `1f 8b`, zip `50 4b 03 04`, anything else is plain CSV), inflates gzip with ISA-L
as it arrives, and writes the CSV to a hidden temporary file next to the target. A zip is
saved whole first, then its single CSV member is copied out under *our* name: member names
are never used as paths, and an archive holding an absolute or `..` name is refused outright.
Output beyond `max_bytes` stops the download. Only a complete, checked file is renamed onto
the target (`os.replace`); every failure removes the temporary files and raises
`DownloadError`.

Download links point at a storage host, so no `Authorization` header is ever sent with them,
nor after their redirects, which are followed by hand, at most `MAX_REDIRECTS` times.

`rows` counts newlines, less the `sep=` line and the header. A quoted cell holding a newline
is counted as an extra row; Botify's exports of URLs and metadata do not hold such cells.
"""

import asyncio
import contextlib
import logging
import os
import queue
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx
from isal import isal_zlib

from .errors import DownloadError
from .models import DownloadedFile

__all__ = ["DEFAULT_MAX_BYTES", "MAX_REDIRECTS", "ProgressCallback", "fetch"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 4 * 1024**3
MAX_REDIRECTS = 5
PROGRESS_INTERVAL = 0.1

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

# Chunks in flight between the socket and the worker: 16 x 64 KiB keeps memory flat while
# leaving the worker enough slack to never starve.
_IN_FLIGHT = 16
# Inflating one chunk can yield up to ~1000x its size, so output is taken in bounded steps.
_INFLATE_STEP = 1024 * 1024
_WRITE_BUFFER = 1024 * 1024

ProgressCallback = Callable[[int, int | None], object]

# Read once at import: os.umask() can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    target: Path,
    *,
    timeout: httpx.Timeout,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_progress: ProgressCallback | None = None,
) -> DownloadedFile:
    """Downloads `url` and leaves its CSV at `target`; see the module docstring."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Could not create the folder {str(target.parent)!r}: {exc.strerror}."
        ) from None
    started = time.perf_counter()

    response = await _open(http, url, timeout)
    try:
        result = await _stream_into(response, target, max_bytes, on_progress)
    finally:
        await response.aclose()

    seconds = time.perf_counter() - started
    logger.info(
        "Saved the export to %s: %d bytes, %d rows, in %.1f s.",
        target, result.size, result.rows, seconds,
    )
    return result


async def _open(http: httpx.AsyncClient, url: str, timeout: httpx.Timeout) -> httpx.Response:
    """Sends the GET, following redirects by hand so no hop can ever carry credentials."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_scheme(url)
        request = http.build_request("GET", url, timeout=timeout)
        for name in ("Authorization", "Cookie"):
            if name in request.headers:
                del request.headers[name]

        started = time.perf_counter()
        try:
            response = await http.send(request, stream=True, auth=None, follow_redirects=False)
        except httpx.TimeoutException:
            raise DownloadError(
                f"The download server at {_origin(url)} did not answer in time."
            ) from None
        except httpx.TransportError as exc:
            raise DownloadError(
                f"Could not reach the download server at {_origin(url)} ({type(exc).__name__})."
            ) from None
        logger.info(
            "GET %s%s answered %d in %d ms.",
            _origin(url), request.url.path, response.status_code, _ms(started),
        )

        if response.is_redirect:
            await response.aclose()
            url = urljoin(url, response.headers["Location"])
            continue
        if response.is_success:
            return response

        await response.aclose()
        raise _refused(response)

    raise DownloadError(f"The download link redirected more than {MAX_REDIRECTS} times.")


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"The download link {url.split('?')[0]!r} is not an http(s) URL.")


def _refused(response: httpx.Response) -> DownloadError:
    status = response.status_code
    if status in (401, 403, 410):
        message = (
            f"The download link was refused (HTTP {status}); it has probably expired, and a "
            "new export job is needed for a fresh one."
        )
    elif status == 404:
        message = "The download link points at no file (HTTP 404); it may have expired."
    else:
        message = f"The download server answered HTTP {status} instead of the file."
    return DownloadError(message, status=status)


async def _stream_into(
    response: httpx.Response,
    target: Path,
    max_bytes: int,
    on_progress: ProgressCallback | None,
) -> DownloadedFile:
    """Pumps raw body chunks to an `_Unpacker` in a worker thread; returns its result."""
    total = _content_length(response)
    loop = asyncio.get_running_loop()
    credits = asyncio.Semaphore(_IN_FLIGHT)
    unpacker = _Unpacker(target, max_bytes)
    pump = _Pump(unpacker, lambda: loop.call_soon_threadsafe(credits.release))
    worker = loop.run_in_executor(None, pump.run)

    received = 0
    progress = _Throttled(on_progress, total)
    complete = False
    try:
        async for chunk in response.aiter_raw():
            if pump.error is not None:
                break
            await credits.acquire()
            pump.feed(chunk)
            received += len(chunk)
            progress(received)
        else:
            complete = True
    except httpx.TimeoutException:
        raise _stalled(received, total) from None
    except httpx.TransportError:
        raise _cut(received, total) from None
    finally:
        pump.close(commit=complete and pump.error is None and total in (None, received))
        result = await worker

    progress(received, final=True)
    if complete and total is not None and received != total:
        raise _cut(received, total)
    return result


def _content_length(response: httpx.Response) -> int | None:
    try:
        length = int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None
    return length if length >= 0 else None


def _stalled(received: int, total: int | None) -> DownloadError:
    return DownloadError(
        f"The download stalled after {_amount(received, total)}; no file was saved."
    )


def _cut(received: int, total: int | None) -> DownloadError:
    return DownloadError(
        f"The download was cut short after {_amount(received, total)}; no file was saved."
    )


def _amount(received: int, total: int | None) -> str:
    return f"{received:,} of {total:,} bytes" if total is not None else f"{received:,} bytes"


class _Throttled:
    """Calls the progress callback at most every PROGRESS_INTERVAL seconds, and once at the end."""

    def __init__(self, callback: ProgressCallback | None, total: int | None):
        self.callback, self.total = callback, total
        self.last = 0.0

    def __call__(self, received: int, *, final: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if final or now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.callback(received, self.total)


class _Pump:
    """Hands chunks from the event loop to one worker thread, which owns the unpacker.

    The queue itself is unbounded; the loop side holds a semaphore of `_IN_FLIGHT` credits and
    the worker returns one per chunk. The closing sentinel therefore never blocks, and the
    worker always ends and cleans up, even when the download task is cancelled.
    """

    def __init__(self, unpacker: "_Unpacker", release: Callable[[], object]):
        self.unpacker, self.release = unpacker, release
        self.queue: queue.SimpleQueue[bytes | bool] = queue.SimpleQueue()
        self.error: BaseException | None = None

    def feed(self, chunk: bytes) -> None:
        self.queue.put(chunk)

    def close(self, *, commit: bool) -> None:
        self.queue.put(commit)

    def run(self) -> DownloadedFile | None:
        while not isinstance(item := self.queue.get(), bool):
            if self.error is None:
                try:
                    self.unpacker.feed(item)
                except BaseException as exc:
                    self.error = exc
            with contextlib.suppress(RuntimeError):
                self.release()

        try:
            if self.error is not None:
                raise self.error
            if item:
                return self.unpacker.finish()
            return None
        finally:
            self.unpacker.discard()


class _Unpacker:
    """Turns the raw body into the final CSV, in the worker thread only."""

    def __init__(self, target: Path, max_bytes: int):
        self.target, self.max_bytes = target, max_bytes
        self.head = b""
        self.kind: str | None = None
        self.csv: _CsvWriter | None = None
        self.raw: _Spool | None = None
        self.inflater: _GzipInflater | None = None

    def feed(self, chunk: bytes) -> None:
        if self.kind is None:
            self.head += chunk
            if len(self.head) < len(ZIP_MAGIC):
                return
            chunk, self.head = self.head, b""
            self._start(chunk)
        self._route(chunk)

    def _route(self, chunk: bytes) -> None:
        if self.kind == "gzip":
            self.inflater.feed(chunk)
        elif self.kind == "zip":
            self.raw.write(chunk)
        else:
            self.csv.write(chunk)

    def _start(self, head: bytes) -> None:
        self.csv = _CsvWriter(self.target, self.max_bytes)
        if head.startswith(GZIP_MAGIC):
            self.kind = "gzip"
            self.inflater = _GzipInflater(self.csv)
        elif head.startswith(ZIP_MAGIC):
            self.kind = "zip"
            self.raw = _Spool(self.target, ".zip.part", self.max_bytes)
        else:
            self.kind = "plain"

    def finish(self) -> DownloadedFile:
        if self.kind is None:
            self._start(self.head)
            self._route(self.head)
        if self.kind == "gzip":
            self.inflater.finish()
        elif self.kind == "zip":
            self.raw.close()
            _extract_zip(self.raw.path, self.csv)
        return self.csv.commit()

    def discard(self) -> None:
        for part in (self.raw, self.csv):
            if part is not None:
                part.discard()


class _Spool:
    """A hidden temporary file next to the target, removed unless committed."""

    def __init__(self, target: Path, suffix: str, max_bytes: int):
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=suffix, dir=target.parent
            )
        except OSError as exc:
            raise DownloadError(
                f"Could not create a file in {str(target.parent)!r}: {exc.strerror}."
            ) from None
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb", buffering=_WRITE_BUFFER)
        self.max_bytes = max_bytes
        self.size = 0
        self.kept = False

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise DownloadError(
                f"The export is bigger than the {self.max_bytes:,}-byte limit; "
                "the download was stopped and nothing was saved."
            )
        try:
            self.file.write(data)
        except OSError as exc:
            raise DownloadError(f"Could not write the export to disk: {exc.strerror}.") from None

    def close(self) -> None:
        try:
            self.file.close()
        except OSError as exc:
            raise DownloadError(f"Could not write the export to disk: {exc.strerror}.") from None

    def discard(self) -> None:
        if self.kept:
            return
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _CsvWriter(_Spool):
    """The CSV spool: also counts lines and notes a leading `sep=` line."""

    def __init__(self, target: Path, max_bytes: int):
        super().__init__(target, ".part", max_bytes)
        self.target = target
        self.newlines = 0
        self.start = b""
        self.last = b""

    def write(self, data: bytes) -> None:
        if not data:
            return
        super().write(data)
        self.newlines += data.count(b"\n")
        if len(self.start) < 8:
            self.start += data[:8]
        self.last = data[-1:]

    def commit(self) -> DownloadedFile:
        self.close()
        lines = self.newlines + (1 if self.last not in (b"", b"\n") else 0)
        has_sep = self.start.removeprefix(b"\xef\xbb\xbf").lower().startswith(b"sep=")
        rows = max(0, lines - has_sep - 1)
        # mkstemp makes the spool private (0600); the finished CSV gets the usual mode.
        os.chmod(self.path, 0o666 & ~_UMASK)
        os.replace(self.path, self.target)
        self.kept = True
        return DownloadedFile(path=self.target, size=self.size, rows=rows)


class _GzipInflater:
    """Inflates a gzip stream (several members allowed) with ISA-L, in bounded steps."""

    def __init__(self, out: _CsvWriter):
        self.out = out
        self.member = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        try:
            while data:
                if self.member.eof:
                    # What follows a member is another member (or zero padding, as gzip allows).
                    data = data.lstrip(b"\0")
                    if not data:
                        return
                    self.member = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
                data = self._inflate(data)
        except isal_zlib.error:
            raise DownloadError("The export is not a valid gzip file.") from None

    def _inflate(self, data: bytes) -> bytes:
        """Inflates `data` fully; returns the bytes past the end of the member, if any."""
        while True:
            output = self.member.decompress(data, _INFLATE_STEP)
            self.out.write(output)
            if self.member.eof:
                return self.member.unused_data
            data = self.member.unconsumed_tail
            if not data and len(output) < _INFLATE_STEP:
                return b""

    def finish(self) -> None:
        if self.member.eof:
            return
        try:
            self.out.write(self.member.flush())
        except isal_zlib.error:
            raise DownloadError("The export is not a valid gzip file.") from None
        if not self.member.eof:
            raise DownloadError("The gzip export ends early; the file is incomplete.")


def _extract_zip(path: Path, out: _CsvWriter) -> None:
    """Copies the single CSV member of the zip at `path` into `out`, checking every name."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for member in members:
                if _escapes(member.filename):
                    raise DownloadError(
                        f"The zip export holds a member named {member.filename!r}, which would "
                        "land outside the target folder; the archive was refused."
                    )
            member = _single_csv([m for m in members if not m.is_dir()])
            with archive.open(member) as source:
                while block := source.read(_WRITE_BUFFER):
                    out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DownloadError(f"The zip export could not be read ({exc}).") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _escapes(name: str) -> bool:
    posix = name.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    is_drive = len(posix) > 1 and posix[1] == ":"
    return posix.startswith("/") or is_drive or ".." in parts


def _single_csv(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo:
    if len(members) == 1:
        return members[0]
    csvs = [m for m in members if m.filename.lower().endswith(".csv")]
    if len(csvs) == 1:
        return csvs[0]
    names = ", ".join(repr(m.filename) for m in members[:5]) or "nothing"
    raise DownloadError(f"The zip export should hold one CSV file but holds {names}.")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
