import json
import logging
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipulate.botify.registry import ExportEntry, ExportRegistry, export_path

KEY = {"org": "demo-org", "project": "small-site", "analysis": "20250413", "depth": 3}
FIELDS = ["title", "meta_description", "h1"]


@pytest.fixture
def registry(tmp_path):
    return ExportRegistry(tmp_path / "export_registry.json")


def make_entry(**changes):
    return ExportEntry(**{**KEY, "fields": FIELDS, **changes})


def test_an_absent_file_is_an_empty_registry(registry):
    assert registry.entries() == []
    assert registry.get("nope") is None
    assert registry.latest(**KEY, fields=FIELDS) is None
    assert not registry.path.exists()


def test_added_entries_are_read_back_oldest_first(registry):
    first = registry.add(make_entry())
    second = registry.add(make_entry(depth=4))

    assert registry.entries() == [first, second]
    assert registry.get(second.id) == second
    assert ExportRegistry(registry.path).entries() == [first, second]


def test_the_file_layout_is_versioned_with_a_list_of_exports(registry):
    entry = registry.add(make_entry(job_id="42"))

    document = json.loads(registry.path.read_text(encoding="utf-8"))

    assert document["version"] == 1
    assert [item["id"] for item in document["exports"]] == [entry.id]
    assert document["exports"][0]["fields"] == ["h1", "meta_description", "title"]
    assert document["exports"][0]["created"].endswith("Z")


def test_adding_an_id_twice_is_refused(registry):
    entry = registry.add(make_entry())

    with pytest.raises(ValueError, match="already holds"):
        registry.add(entry)
    assert len(registry.entries()) == 1


def test_update_changes_progress_and_stamps_updated(registry):
    entry = registry.add(make_entry(updated=datetime(2020, 1, 1, tzinfo=UTC)))

    changed = registry.update(entry.id, status="DONE", job_id=123, download_url="http://x/y")

    assert (changed.status, changed.job_id, changed.download_url) == ("DONE", "123", "http://x/y")
    assert changed.updated > entry.updated
    assert changed.created == entry.created
    assert registry.get(entry.id) == changed


def test_update_of_an_unknown_id_raises_key_error(registry):
    registry.add(make_entry())

    with pytest.raises(KeyError):
        registry.update("missing", status="DONE")


@pytest.mark.parametrize("field", ["id", "org", "depth", "fields", "created", "updated", "typo"])
def test_update_refuses_to_change_identity_fields(registry, field):
    entry = registry.add(make_entry())

    with pytest.raises(ValueError, match=f"cannot change {field}"):
        registry.update(entry.id, **{field: "x"})
    assert registry.get(entry.id) == entry


def test_update_refuses_values_the_schema_refuses(registry):
    entry = registry.add(make_entry())

    with pytest.raises(ValidationError):
        registry.update(entry.id, status="FINISHED")
    with pytest.raises(ValidationError):
        registry.update(entry.id, local_file="../../etc/passwd")
    assert registry.get(entry.id) == entry


def test_latest_is_the_newest_entry_for_that_export(registry):
    now = datetime.now(UTC)
    registry.add(make_entry(created=now - timedelta(hours=2), status="FAILED"))
    newest = registry.add(make_entry(created=now - timedelta(hours=1), status="DOWNLOADED"))
    registry.add(make_entry(created=now - timedelta(hours=3), status="FAILED"))
    registry.add(make_entry(depth=2, created=now))

    assert registry.latest(**KEY, fields=["h1", "title", "meta_description"]) == newest
    assert registry.latest(**KEY, fields=["h1"]) is None


def test_claim_creates_one_processing_entry_then_returns_it(registry):
    entry, is_new = registry.claim(**KEY, fields=FIELDS)
    again, is_new_again = registry.claim(**KEY, fields=reversed(FIELDS))

    assert is_new and not is_new_again
    assert again == entry
    assert (entry.status, entry.job_id) == ("PROCESSING", None)
    assert registry.entries() == [entry]


@pytest.mark.parametrize("status", ["PROCESSING", "DONE", "DOWNLOADING"])
def test_claim_returns_an_in_flight_export(registry, status):
    entry = registry.add(make_entry(status=status, job_id="7"))

    assert registry.claim(**KEY, fields=FIELDS) == (entry, False)


@pytest.mark.parametrize("status", ["DOWNLOADED", "FAILED"])
def test_claim_starts_a_new_export_after_a_finished_one(registry, status):
    old = registry.add(make_entry(status=status))

    entry, is_new = registry.claim(**KEY, fields=FIELDS)

    assert is_new and entry.id != old.id
    assert registry.latest(**KEY, fields=FIELDS) == entry


def test_claim_tells_exports_apart_by_every_part_of_the_key(registry):
    registry.claim(**KEY, fields=FIELDS)

    for changed in ({"org": "o2"}, {"project": "p2"}, {"analysis": "20250414"}, {"depth": 2}):
        assert registry.claim(**{**KEY, **changed}, fields=FIELDS)[1]
    assert registry.claim(**KEY, fields=["title"])[1]
    assert len(registry.entries()) == 6


def test_concurrent_claims_from_many_threads_create_exactly_one_entry(tmp_path):
    path = tmp_path / "export_registry.json"
    shared = ExportRegistry(path)
    barrier = threading.Barrier(24)
    results = []

    def click(registry):
        barrier.wait()
        results.append(registry.claim(**KEY, fields=FIELDS))

    # Half share one instance (the thread lock), half have their own (the file lock).
    threads = [
        threading.Thread(target=click, args=(shared if n % 2 else ExportRegistry(path),))
        for n in range(24)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 24
    assert sum(is_new for _, is_new in results) == 1
    assert len({entry.id for entry, _ in results}) == 1
    assert len(shared.entries()) == 1


CLAIMER = """
import sys
from pathlib import Path
from pipulate.botify.registry import ExportRegistry
registry = ExportRegistry(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
entry, is_new = registry.claim("demo-org", "small-site", "20250413", 3, ["title"])
print(entry.id, is_new, flush=True)
"""


def test_concurrent_claims_from_many_processes_create_exactly_one_entry(tmp_path):
    path = tmp_path / "export_registry.json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    answers = [proc.communicate(timeout=20)[0].split() for proc in procs]

    assert sorted(is_new for _, is_new in answers) == ["False"] * 5 + ["True"]
    assert len({entry_id for entry_id, _ in answers}) == 1
    assert len(ExportRegistry(path).entries()) == 1


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": 1, "exports": [',
        b"",
        b"\xff\xfe not utf-8",
        b"[]",
        b'{"version": 2, "exports": []}',
        b'{"version": 1, "exports": [{"id": "a"}]}',
        b'{"version": 1, "exports": [], "extra": true}',
    ],
)
def test_a_corrupt_registry_is_moved_aside_kept_and_logged(registry, caplog, content):
    registry.path.write_bytes(content)

    with caplog.at_level(logging.ERROR, logger="pipulate.botify.registry"):
        assert registry.entries() == []

    [aside] = registry.path.parent.glob("export_registry.json.corrupt-*")
    assert aside.read_bytes() == content
    assert not registry.path.exists()
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert str(registry.path) in record.getMessage()
    assert str(aside) in record.getMessage()

    entry = registry.add(make_entry())
    assert registry.entries() == [entry]


def test_duplicate_ids_make_the_registry_corrupt(registry):
    entry = make_entry().model_dump(mode="json")
    registry.path.write_text(json.dumps({"version": 1, "exports": [entry, entry]}))

    assert registry.entries() == []
    assert len(list(registry.path.parent.glob("export_registry.json.corrupt-*"))) == 1


def test_each_corrupt_file_is_kept_separately(registry):
    for content in (b"one", b"two"):
        registry.path.write_bytes(content)
        registry.entries()

    kept = sorted(p.read_bytes() for p in registry.path.parent.glob("*.corrupt-*"))
    assert kept == [b"one", b"two"]


def test_writes_leave_no_temporary_files_and_clear_stale_ones(registry):
    registry.path.parent.mkdir(parents=True, exist_ok=True)
    stale = registry.path.parent / ".export_registry.json.abc123.tmp"
    stale.write_text("half a registry")

    entry = registry.add(make_entry())
    registry.update(entry.id, status="DONE")

    names = sorted(p.name for p in registry.path.parent.iterdir())
    assert names == ["export_registry.json", "export_registry.json.lock"]


def test_the_folder_is_created_on_first_write(tmp_path):
    registry = ExportRegistry(tmp_path / "new" / "downloads" / "export_registry.json")

    registry.add(make_entry())

    assert registry.path.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"org": ".."},
        {"project": "a/b"},
        {"analysis": ""},
        {"depth": -1},
        {"fields": ["title", "../x"]},
        {"fields": ["meta-description"]},
        {"status": "RUNNING"},
        {"local_file": "/etc/passwd"},
        {"local_file": "a/../../b.csv"},
        {"local_file": "a\\b.csv"},
        {"created": datetime(2025, 1, 1)},
        {"size": -1},
        {"id": "has space"},
        {"unknown": 1},
    ],
)
def test_entries_refuse_unsafe_or_unknown_values(changes):
    with pytest.raises(ValidationError):
        make_entry(**changes)


def test_an_entry_has_a_unique_id_canonical_fields_and_an_export_key():
    entry = make_entry(fields=["title", "h1", "title"])

    assert entry.fields == ["h1", "title"]
    assert entry.export_key == ("demo-org", "small-site", "20250413", 3, ("h1", "title"))
    assert make_entry().id != make_entry().id
    assert entry.is_in_flight
    assert not make_entry(status="FAILED").is_in_flight


def test_times_are_kept_in_utc():
    paris = timezone(timedelta(hours=2))

    entry = make_entry(created=datetime(2025, 4, 13, 12, 0, tzinfo=paris))

    assert entry.created == datetime(2025, 4, 13, 10, 0, tzinfo=UTC)
    assert entry.model_dump(mode="json")["created"] == "2025-04-13T10:00:00Z"


def test_export_path_names_the_depth_and_fields(tmp_path):
    path = export_path(tmp_path, make_entry())

    assert path == tmp_path / "demo-org/small-site/20250413/depth-3_h1-meta_description-title.csv"
    assert export_path(tmp_path, make_entry(fields=[])).name == "depth-3.csv"


@pytest.mark.parametrize("part", [{"org": ".."}, {"project": "a/b"}, {"analysis": "/etc"}])
def test_export_path_refuses_parts_that_are_not_slugs(tmp_path, part):
    # model_construct skips validation, as a hand-edited registry read without it would.
    entry = ExportEntry.model_construct(**{**make_entry().model_dump(), **part})

    with pytest.raises(ValueError, match="not a plain name"):
        export_path(tmp_path, entry)


def test_export_path_refuses_a_path_that_escapes_through_a_link(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "demo-org").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    with pytest.raises(ValueError, match="outside"):
        export_path(downloads, make_entry())


def test_export_path_accepts_a_relative_downloads_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    path = export_path(Path("downloads"), make_entry(depth=0, fields=["title"]))

    assert path == Path("downloads/demo-org/small-site/20250413/depth-0_title.csv")
