"""Export jobs, from the click that asks for one to the CSV on disk, run by the server.

`ExportService.start()` claims the export in the registry and creates one Botify job; a watcher
task per job then polls Botify every `poll_seconds` and, once the job is DONE, downloads and
unpacks the file. Nothing here waits on a browser: pages read the registry and the watcher's
live `Progress`, so however many tabs watch one job, Botify sees one status call per interval
and the job downloads once.

After a restart, `resume()` picks every unfinished entry up again: a pending job is polled, an
interrupted download starts over (its hidden temporary files are removed first), and an entry
whose job was never confirmed by Botify is marked FAILED rather than guessed at.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BotifyError, DownloadError, NotFoundError
from .registry import ExportEntry, ExportRegistry, export_path

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


@dataclass
class Progress:
    """What the watcher of one job knows now; kept in memory only."""

    job_status: str | None = None
    received: int = 0
    total: int | None = None
    started: float | None = None


class ExportService:
    """Starts export jobs and follows each to the file on disk; see the module docstring."""

    def __init__(self, client, registry: ExportRegistry, downloads: Path,
                 poll_seconds: float = POLL_SECONDS):
        self.client, self.registry, self.downloads = client, registry, downloads
        self.poll_seconds = poll_seconds
        self.progress: dict[str, Progress] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._creating: set[str] = set()

    async def start(self, org: str, project: str, analysis: str, depth: int,
                    fields: Sequence[str]) -> ExportEntry:
        """Start one export job, or return the one already under way for the same export."""
        entry, is_new = self.registry.claim(org, project, analysis, depth, list(fields))
        if not is_new:
            self.watch(entry)
            return entry

        self._creating.add(entry.id)
        try:
            log.info("Export %s started: %s/%s/%s, depth %d, fields %s.",
                     entry.id, org, project, analysis, depth, ", ".join(fields) or "url only")
            job = await self.client.create_export(org, project, analysis, max_depth=depth,
                                                  fields=list(fields))
        except BotifyError as error:
            log.warning("Export %s failed: Botify refused the job: %s", entry.id, error)
            return self.registry.update(entry.id, status="FAILED", error=str(error),
                                        failure="job")
        finally:
            self._creating.discard(entry.id)

        entry = self.registry.update(entry.id, job_id=job.job_id, job_url=job.job_url)
        self.progress[entry.id] = Progress(job_status=job.status)
        self.watch(entry)
        return entry

    def watch(self, entry: ExportEntry) -> None:
        """Make sure an unfinished entry has its watcher; idempotent."""
        if not entry.is_in_flight or entry.id in self._creating:
            return
        task = self._tasks.get(entry.id)
        if task is None or task.done():
            self._tasks[entry.id] = asyncio.create_task(self._follow(entry.id),
                                                        name=f"export-{entry.id}")

    def resume(self) -> None:
        """Pick up every unfinished export, as after a restart."""
        for entry in self.registry.entries():
            if entry.is_in_flight:
                self.watch(entry)

    async def retry(self, entry: ExportEntry) -> ExportEntry:
        """Try a failed export again, reusing its job or its link when they may still work."""
        if entry.status != "FAILED":
            return entry
        if entry.failure == "download":
            entry = self.registry.update(entry.id, status="DONE", error=None, failure=None)
        elif entry.failure == "status":
            entry = self.registry.update(entry.id, status="PROCESSING", error=None, failure=None)
        else:
            return await self.start(entry.org, entry.project, entry.analysis, entry.depth,
                                    entry.fields)
        log.info("Export %s retried.", entry.id)
        self.watch(entry)
        return entry

    async def close(self) -> None:
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def file_path(self, entry: ExportEntry) -> Path:
        return export_path(self.downloads, entry)

    async def _follow(self, entry_id: str) -> None:
        entry = self.registry.get(entry_id)
        if entry is None:
            return
        try:
            if entry.status == "PROCESSING":
                entry = await self._wait_for_job(entry)
            if entry.status in ("DONE", "DOWNLOADING"):
                await self._download(entry)
        except asyncio.CancelledError:
            raise
        except KeyError:
            log.warning("Export %s vanished from the registry; it is no longer followed.",
                        entry_id)
        except Exception:
            log.exception("Export %s failed unexpectedly.", entry_id)
            self.registry.update(entry_id, status="FAILED", failure="job",
                                 error="The export stopped on an unexpected error; try again.")

    async def _wait_for_job(self, entry: ExportEntry) -> ExportEntry:
        if not entry.job_id:
            log.warning("Export %s has no job: the server stopped while creating it.", entry.id)
            return self.registry.update(
                entry.id, status="FAILED", failure="job",
                error="The server stopped before Botify confirmed this job. Botify may have "
                      "created it anyway; start the export again if no file arrives.")

        progress = self.progress.setdefault(entry.id, Progress())
        while True:
            try:
                job = await self.client.job(entry.job_url or entry.job_id)
            except NotFoundError as error:
                log.warning("Export %s: Botify no longer knows job %s.", entry.id, entry.job_id)
                return self.registry.update(entry.id, status="FAILED", failure="job",
                                            error=f"Botify no longer knows this job: {error}")
            except BotifyError as error:
                log.warning("Export %s: checking the job failed: %s", entry.id, error)
                return self.registry.update(entry.id, status="FAILED", failure="status",
                                            error=f"Checking the job's status failed: {error}")
            progress.job_status = job.status
            if job.is_done:
                log.info("Export %s: Botify finished job %s.", entry.id, job.job_id)
                return self.registry.update(entry.id, status="DONE",
                                            download_url=job.download_url, rows=job.rows)
            if job.is_failed:
                log.warning("Export %s failed at Botify: %s", entry.id, job.failure_reason)
                return self.registry.update(entry.id, status="FAILED", failure="job",
                                            error=job.failure_reason)
            await asyncio.sleep(self.poll_seconds)

    async def _download(self, entry: ExportEntry) -> ExportEntry:
        target = self.file_path(entry)
        for leftover in target.parent.glob(f".{target.name}.*"):
            leftover.unlink(missing_ok=True)
        entry = self.registry.update(entry.id, status="DOWNLOADING")
        progress = self.progress.setdefault(entry.id, Progress())
        progress.received, progress.total, progress.started = 0, None, time.monotonic()

        def note(received: int, total: int | None) -> None:
            progress.received, progress.total = received, total

        log.info("Export %s: download started.", entry.id)
        try:
            saved = await self.client.download(entry.download_url, target, on_progress=note)
        except DownloadError as error:
            log.warning("Export %s: download failed: %s", entry.id, error)
            failure = "expired" if error.status in (401, 403, 404, 410) else "download"
            return self.registry.update(entry.id, status="FAILED", error=str(error),
                                        failure=failure)
        log.info("Export %s: downloaded %d rows to %s.", entry.id, saved.rows, target)
        return self.registry.update(
            entry.id, status="DOWNLOADED", size=saved.size, rows=saved.rows,
            local_file=target.relative_to(self.downloads).as_posix(), error=None, failure=None)

