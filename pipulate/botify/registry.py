"""The export registry: one JSON file recording every export job, shared by threads and processes.

Layout of `downloads/export_registry.json`, oldest export first:

    {"version": 1, "exports": [{"id": "...", "org": "...", "status": "PROCESSING", ...}, ...]}

Every change is a read-modify-write under a lock held across threads (`threading.Lock`) and
processes (`fcntl.flock` on the sidecar `export_registry.json.lock`). The new content goes to a
temporary file in the same folder, is flushed and fsynced, then `os.replace`d over the registry,
and the folder is fsynced; a reader therefore sees the old file or the new one, never a mix, and
a process killed mid-write loses nothing it had finished writing.

A registry that does not parse (bad JSON, an unknown version, an entry that breaks the schema)
is never silently replaced: it is moved aside to `export_registry.json.corrupt-<UTC time>`,
logged at ERROR, and a fresh registry starts.

`claim()` is how a double click creates one job: under the lock it returns the in-flight entry
(PROCESSING, DONE or DOWNLOADING) for the same export, or records a new PROCESSING entry that the
caller then fills with the job it creates.
"""

import fcntl
import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipulate.botify.urls import is_slug

logger = logging.getLogger(__name__)

REGISTRY_NAME = "export_registry.json"
VERSION = 1
Failure = Literal["job", "status", "download", "expired"]
Status = Literal["PROCESSING", "DONE", "DOWNLOADING", "DOWNLOADED", "FAILED"]
IN_FLIGHT: frozenset[str] = frozenset({"PROCESSING", "DONE", "DOWNLOADING"})
UPDATABLE = frozenset(
    {"job_id", "job_url", "status", "download_url", "local_file", "size", "rows", "error",
     "failure"}
)

ExportKey = tuple[str, str, str, int, tuple[str, ...]]


def _now() -> datetime:
    return datetime.now(UTC)


class ExportEntry(BaseModel):
    """One export job, from the click that asked for it to the file on disk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    org: str
    project: str
    analysis: str
    depth: int = Field(ge=0)
    fields: list[str]
    job_id: str | None = None
    job_url: str | None = None
    status: Status = "PROCESSING"
    created: AwareDatetime = Field(default_factory=_now)
    updated: AwareDatetime = Field(default_factory=_now)
    download_url: str | None = None
    local_file: str | None = None
    size: int | None = Field(default=None, ge=0)
    rows: int | None = Field(default=None, ge=0)
    error: str | None = None
    # Where a FAILED export stopped, which decides what a retry does: "job" (Botify refused or
    # failed the job: start a new one), "status" (checking the job failed: check again),
    # "download" (fetching the file failed: fetch again), "expired" (the link is dead: new job).
    failure: Failure | None = None

    @field_validator("org", "project", "analysis")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not is_slug(value):
            raise ValueError(f"{value!r} is not a slug (letters, digits, '-', '_', '.')")
        return value

    @field_validator("fields")
    @classmethod
    def _canonical_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _is_field_name(name):
                raise ValueError(f"{name!r} is not a field name (letters, digits, '_')")
        return sorted(set(value))

    @field_validator("created", "updated")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("job_id", mode="before")
    @classmethod
    def _job_id_as_text(cls, value: object) -> object:
        # Botify's job_id may be an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("local_file")
    @classmethod
    def _relative_path(cls, value: str | None) -> str | None:
        if value is not None:
            path = PurePosixPath(value)
            if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
                raise ValueError(f"{value!r} is not a path inside the downloads folder")
        return value

    @property
    def export_key(self) -> ExportKey:
        """What makes two entries the same export: org, project, analysis, depth and fields."""
        return (self.org, self.project, self.analysis, self.depth, tuple(self.fields))

    @property
    def is_in_flight(self) -> bool:
        return self.status in IN_FLIGHT


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    exports: list[ExportEntry]

    @field_validator("exports")
    @classmethod
    def _unique_ids(cls, value: list[ExportEntry]) -> list[ExportEntry]:
        ids = [entry.id for entry in value]
        if len(ids) != len(set(ids)):
            raise ValueError("two exports share an id")
        return value


class ExportRegistry:
    """The registry file at `path` (usually `downloads/export_registry.json`).

    Typical use, which creates one job however many times the button is clicked:

        registry = ExportRegistry(downloads / REGISTRY_NAME)
        entry, is_new = registry.claim("demo-org", "small-site", "20250413", 3, ["title"])
        if is_new:
            job = await client.create_export(...)
            registry.update(entry.id, job_id=job.job_id, job_url=job.job_url)
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()

    def entries(self) -> list[ExportEntry]:
        """Every entry, oldest first."""
        with self._locked():
            return self._load()

    def get(self, entry_id: str) -> ExportEntry | None:
        """The entry with this id, or None."""
        return next((entry for entry in self.entries() if entry.id == entry_id), None)

    def latest(
        self, org: str, project: str, analysis: str, depth: int, fields: Iterable[str]
    ) -> ExportEntry | None:
        """The newest entry for this export, whatever its status, or None."""
        key = _key(org, project, analysis, depth, fields)
        return _newest(entry for entry in self.entries() if entry.export_key == key)

    def add(self, entry: ExportEntry) -> ExportEntry:
        """Record a new entry; its id must not be in the registry yet."""
        with self._locked():
            entries = self._load()
            if any(existing.id == entry.id for existing in entries):
                raise ValueError(f"The registry already holds an export with id {entry.id!r}.")
            self._save([*entries, entry])
        return entry

    def update(self, entry_id: str, **changes: object) -> ExportEntry:
        """Change an entry's progress fields, stamp `updated`, and return the new entry.

        Raises KeyError for an unknown id, ValueError for a field that cannot change (the export
        key, `id`, `created`) or a value the schema refuses.
        """
        refused = sorted(changes.keys() - UPDATABLE)
        if refused:
            raise ValueError(f"update() cannot change {', '.join(refused)}.")
        with self._locked():
            entries = self._load()
            index = next((i for i, entry in enumerate(entries) if entry.id == entry_id), None)
            if index is None:
                raise KeyError(entry_id)
            changed = ExportEntry.model_validate(
                {**entries[index].model_dump(), **changes, "updated": _now()}
            )
            entries[index] = changed
            self._save(entries)
        return changed

    def claim(
        self, org: str, project: str, analysis: str, depth: int, fields: Iterable[str]
    ) -> tuple[ExportEntry, bool]:
        """Return the in-flight entry for this export and False, or a new PROCESSING one and True.

        Both happen under the lock, so of many simultaneous claims exactly one gets True.
        """
        candidate = ExportEntry(
            org=org, project=project, analysis=analysis, depth=depth, fields=list(fields)
        )
        with self._locked():
            entries = self._load()
            running = _newest(
                entry
                for entry in entries
                if entry.export_key == candidate.export_key and entry.is_in_flight
            )
            if running is not None:
                return running, False
            self._save([*entries, candidate])
        return candidate, True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _load(self) -> list[ExportEntry]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            return _RegistryFile.model_validate_json(raw).exports
        except ValidationError as exc:
            self._set_aside(f"{exc.error_count()} problem(s), first: {_first_error(exc)}")
            return []

    def _set_aside(self, problem: str) -> None:
        stamp = _now().strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        os.replace(self.path, aside)
        _fsync_folder(self.path.parent)
        logger.error(
            "The export registry %s could not be read (%s); moved it to %s and started afresh.",
            self.path,
            problem,
            aside,
        )

    def _save(self, entries: list[ExportEntry]) -> None:
        # Temporary files left by a writer killed mid-write; we hold the lock, so none is live.
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with suppress(FileNotFoundError):
                stale.unlink()

        document = {"version": VERSION, "exports": [e.model_dump(mode="json") for e in entries]}
        data = json.dumps(document, indent=1, ensure_ascii=False).encode() + b"\n"
        fd, temp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_folder(self.path.parent)


def export_path(downloads_dir: Path, entry: ExportEntry) -> Path:
    """Where this export's CSV lives: `<downloads>/<org>/<project>/<analysis>/<name>.csv`.

    The name states the depth and the fields in alphabetical order, e.g.
    `depth-3_h1-meta_description-title.csv` (`depth-3.csv` when only URLs are exported).
    Raises ValueError for an org, project or analysis that is not a plain slug.
    """
    parts = {"org": entry.org, "project": entry.project, "analysis": entry.analysis}
    for what, value in parts.items():
        if not is_slug(value):
            raise ValueError(f"The {what} {value!r} is not a plain name; refusing to use it.")
    fields = sorted(set(entry.fields))
    if not all(_is_field_name(name) for name in fields):
        raise ValueError(f"The fields {fields!r} cannot be part of a file name.")
    name = f"depth-{entry.depth}" + ("_" + "-".join(fields) if fields else "") + ".csv"

    downloads_dir = Path(downloads_dir)
    path = downloads_dir / entry.org / entry.project / entry.analysis / name
    if not path.resolve().is_relative_to(downloads_dir.resolve()):
        raise ValueError(f"{path} would land outside {downloads_dir}; refusing to use it.")
    return path


def _is_field_name(name: str) -> bool:
    return name.isascii() and name.replace("_", "").isalnum()


def _key(org: str, project: str, analysis: str, depth: int, fields: Iterable[str]) -> ExportKey:
    return (org, project, analysis, depth, tuple(sorted(set(fields))))


def _newest(entries: Iterable[ExportEntry]) -> ExportEntry | None:
    # Entries are stored oldest first, so on equal `created` times the later one wins.
    newest = None
    for entry in entries:
        if newest is None or entry.created >= newest.created:
            newest = entry
    return newest


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "file"
    return f"{where}: {error['msg']}"


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
