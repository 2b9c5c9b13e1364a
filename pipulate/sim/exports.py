"""The exported CSV: made up row by row, compressed once to a file on disk, served from there.

Rows are produced in chunks and written straight into the compressor, so memory stays flat
whatever the export size. The compressed file is kept per content key (the same query gives the
same bytes), which lets the storage answer send a Content-Length and serve at disk speed.
"""

import asyncio
import contextlib
import gzip
import json
import logging
import os
import shutil
import tempfile
import threading
import weakref
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread
from isal import igzip

from .jobs import COLUMNS, STORED_GZIP, ExportJob

logger = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
GZIP_LEVEL = 0  # isal's fastest level; plenty for synthetic text.
ZIP_LEVEL = 1

CATEGORIES = ("garden", "kitchen", "outdoor", "lighting", "bathroom", "storage", "office",
              "kids", "decor", "tools", "sale", "guides", "brands")
PRODUCTS = (
    ("oak-table", "Oak table"), ("linen-throw", "Linen throw"), ("brass-lamp", "Brass lamp"),
    ("cafe-chair", "Café chair"), ("creme-brulee-set", "Crème brûlée set"),
    ("monitor-24", 'Monitor 24"'), ("rain-barrel", "Rain barrel, 200 L"),
    ("kids-desk", "Kids' desk"), ("wall-shelf", "Wall shelf"), ("tool-chest", "Tool chest"),
    ("bath-mat", "Bath mat"), ("led-strip", "LED strip 5 m"), ("garden-hose", "Garden hose"),
    ("storage-box", "Storage box"), ("desk-lamp", "Desk lamp"), ("plant-pot", "Plant pot"),
    ("knife-block", "Knife block"),
)


def _csv(text: str) -> str:
    return text.replace('"', '""')


def header(job: ExportJob) -> str:
    lines = "sep=,\n" if job.print_delimiter else ""
    if job.print_header:
        lines += ",".join(COLUMNS[name] for name in job.fields) + "\n"
    return lines


def rows(job: ExportJob, depth: int, start: int, stop: int) -> str:
    """CSV lines for URLs start..stop-1 at one depth; every (depth, index) gives a unique URL."""
    host = f"https://www.{job.project}.example"
    brand = job.project.replace("-", " ").title()
    pick = [("url", "metadata.title.content", "metadata.description.content",
             "metadata.h1.contents", "depth").index(name) for name in job.fields]
    products = [(slug, _csv(label), _csv(json.dumps(label, ensure_ascii=False)[1:-1]))
                for slug, label in PRODUCTS]
    lines = []
    for index in range(start, stop):
        slug, title, h1 = products[(index + depth) % len(products)]
        category = CATEGORIES[(index // len(products) + depth) % len(CATEGORIES)]
        if depth == 0 and index == 0:
            url = host + "/"
        else:
            url = f"{host}/{category}/{slug}-{depth}-{index}"
        description = "" if index % 13 == 5 else (
            f'"Discover our {title.lower()} in {category}, ref. {index}. '
            'Free delivery over 50 €, 30-day returns, and advice from our team of experts."')
        if index % 11 == 3:
            headings = '"[]"'
        elif index % 5 == 0:
            headings = f'"[""{h1} {index}"",""Why customers love it""]"'
        else:
            headings = f'"[""{h1} {index}""]"'
        cells = (url, f'"{title} {index} | {brand}"', description, headings, str(depth))
        lines.append(",".join([cells[i] for i in pick]))
    lines.append("")
    return "\n".join(lines)


def chunks(job: ExportJob) -> Iterator[bytes]:
    """The whole CSV as UTF-8 chunks of at most CHUNK_ROWS rows, capped at job.export_size."""
    yield header(job).encode()
    left = job.export_size
    for depth, count in sorted(job.depth_counts.items()):
        for start in range(0, min(count, left), CHUNK_ROWS):
            yield rows(job, depth, start, min(start + CHUNK_ROWS, count, left)).encode()
        left -= min(count, left)
        if not left:
            return


@contextlib.contextmanager
def _compressor(job: ExportJob, path: Path) -> Iterator[BinaryIO]:
    if job.compression == "gzip":
        with igzip.open(path, "wb", compresslevel=GZIP_LEVEL) as out:
            yield out
        return
    if job.compression == STORED_GZIP:
        with gzip.open(path, "wb", compresslevel=0) as out:
            yield out
        return
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive:
        with archive.open(job.filename.removesuffix(".zip") + ".csv", "w",
                          force_zip64=True) as out:
            yield out


def write(job: ExportJob, target: Path, stop: threading.Event | None = None) -> bool:
    """Writes the compressed export through a temporary name, so readers never see half a file.

    Returns False, leaving nothing behind, when `stop` is set before the end.
    """
    partial = target.with_name(target.name + f".{os.getpid()}.part")
    with _compressor(job, partial) as out:
        for chunk in chunks(job):
            if stop is not None and stop.is_set():
                break
            out.write(chunk)
    if stop is not None and stop.is_set():
        partial.unlink(missing_ok=True)
        return False
    partial.replace(target)
    return True


class ExportCache:
    """Compressed exports on disk, built once per content key, at most one build at a time each."""

    def __init__(self) -> None:
        self._directory: Path | None = None
        self._cleanup: weakref.finalize | None = None
        self._builds: dict[str, asyncio.Task] = {}
        self._stop = threading.Event()

    @property
    def directory(self) -> Path:
        """A temporary directory, made on first use and removed at close or interpreter exit."""
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="pipulate-sim-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._directory, True)
        return self._directory

    def path(self, job: ExportJob) -> Path:
        return self.directory / f"{job.content_key}.{job.compression}"

    def prepare(self, job: ExportJob) -> asyncio.Task:
        """Starts building the file in a worker thread, unless it exists or is being built."""
        task = self._builds.get(job.content_key)
        if task is None:
            task = asyncio.create_task(self._build(job))
            self._builds[job.content_key] = task
        return task

    async def get(self, job: ExportJob) -> Path:
        """The finished file, waiting for its build; RuntimeError if the build failed."""
        path = self.path(job)
        if not path.exists():
            await asyncio.shield(self.prepare(job))
        if not path.exists():
            raise RuntimeError(f"The export file {path.name} could not be built.")
        return path

    async def _build(self, job: ExportJob) -> None:
        path = self.path(job)
        try:
            if path.exists():
                return
            logger.info("Building export %s (%d rows).", path.name, job.nb_lines)
            if await to_thread.run_sync(write, job, path, self._stop):
                logger.info("Built export %s (%d bytes).", path.name, path.stat().st_size)
        except Exception:
            if not self._stop.is_set():
                logger.exception("Building export %s failed.", path.name)
        finally:
            self._builds.pop(job.content_key, None)

    def close(self) -> None:
        """Stops builds in progress and removes the directory."""
        self._stop.set()
        if self._cleanup is not None:
            self._cleanup()
            self._directory = self._cleanup = None
