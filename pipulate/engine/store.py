"""Run state in SQLite: one row per run, its data a JSON object.

Every change is a read-modify-write inside one `BEGIN IMMEDIATE` transaction, so a handler that
awaited something slow cannot overwrite a newer write with the stale copy it read earlier: it only
names the keys it sets or removes, and they are applied to the row as it is now.
"""

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    updated TEXT NOT NULL
)
"""


class InvalidKey(ValueError):
    def __init__(self, key: str):
        super().__init__(
            f"{key!r} is not a usable run key: use 1 to 100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit."
        )


def check_key(key: str) -> str:
    key = key.strip()
    if not KEY_PATTERN.match(key):
        raise InvalidKey(key)
    return key


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Run:
    """One run of a workflow: its key, its app and the state its steps have recorded."""

    def __init__(self, store: "RunStore", key: str, app: str, data: dict, created: str,
                 updated: str):
        self.store, self.key, self.app = store, key, app
        self.data, self.created, self.updated = data, created, updated

    @property
    def is_finalized(self) -> bool:
        return bool(self.data.get("_finalized"))

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def update(self, set: Mapping[str, Any] | None = None, remove: Iterable[str] = ()) -> None:
        """Apply a change to the stored run and refresh `data` with the result."""
        self.data, self.updated = self.store.update(self.key, set or {}, remove)


class RunStore:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def get(self, key: str) -> Run | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT key, app, data, created, updated FROM runs WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        key, app, data, created, updated = row
        return Run(self, key, app, json.loads(data), created, updated)

    def open(self, key: str, app: str) -> tuple[Run, bool]:
        """The run under `key`, created empty when new; the flag says whether it was created."""
        key = check_key(key)
        stamp = _now()
        with closing(self._connect()) as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO runs (key, app, data, created, updated) "
                "VALUES (?, ?, '{}', ?, ?)",
                (key, app, stamp, stamp),
            )
        return self.get(key), cursor.rowcount == 1

    def open_fresh(self, profile: str, app: str) -> Run:
        """Create a run under the next free key `{profile}-{app}-NN`."""
        stamp = _now()
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            key = self._next_key(db, profile, app)
            db.execute(
                "INSERT INTO runs (key, app, data, created, updated) VALUES (?, ?, '{}', ?, ?)",
                (key, app, stamp, stamp),
            )
            db.execute("COMMIT")
        return self.get(key)

    def next_key(self, profile: str, app: str) -> str:
        """The key `open_fresh` would use now; nothing is reserved."""
        with closing(self._connect()) as db:
            return self._next_key(db, profile, app)

    def _next_key(self, db: sqlite3.Connection, profile: str, app: str) -> str:
        prefix = f"{profile}-{app}-"
        rows = db.execute(
            "SELECT substr(key, ?) FROM runs WHERE substr(key, 1, ?) = ?",
            (len(prefix) + 1, len(prefix), prefix),
        ).fetchall()
        numbers = [int(suffix) for (suffix,) in rows if suffix.isdigit()]
        return f"{prefix}{max(numbers, default=0) + 1:02d}"

    def keys(self, app: str) -> list[str]:
        """Keys of the app's runs, most recently updated first."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT key FROM runs WHERE app = ? ORDER BY updated DESC, key DESC", (app,)
            ).fetchall()
        return [key for (key,) in rows]

    def update(
        self, key: str, set: Mapping[str, Any], remove: Iterable[str] = ()
    ) -> tuple[dict, str]:
        """Set and remove keys of one run atomically; return its data and stamp afterwards."""
        payload = json.dumps(dict(set))
        remove = list(remove)
        stamp = _now()
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT data FROM runs WHERE key = ?", (key,)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise KeyError(key)
            data = json.loads(row[0])
            for name in remove:
                data.pop(name, None)
            data.update(json.loads(payload))
            db.execute(
                "UPDATE runs SET data = ?, updated = ? WHERE key = ?",
                (json.dumps(data), stamp, key),
            )
            db.execute("COMMIT")
        return data, stamp
