import threading

import pytest

from pipulate.engine.store import InvalidKey, RunStore, check_key


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.db")


def test_fresh_keys_count_up_per_app_and_profile(store):
    assert store.next_key("default", "hello") == "default-hello-01"
    assert store.open_fresh("default", "hello").key == "default-hello-01"
    assert store.open_fresh("default", "hello").key == "default-hello-02"
    assert store.open_fresh("default", "botify_csv").key == "default-botify_csv-01"
    assert store.open_fresh("alice", "hello").key == "alice-hello-01"
    assert store.next_key("default", "hello") == "default-hello-03"


def test_fresh_key_follows_the_highest_number_and_ignores_other_suffixes(store):
    store.open("default-hello-07", "hello")
    store.open("default-hello-notes", "hello")
    store.open("default-hello-3", "hello")
    assert store.next_key("default", "hello") == "default-hello-08"
    store.open("default-hello-120", "hello")
    assert store.open_fresh("default", "hello").key == "default-hello-121"


def test_concurrent_fresh_runs_never_share_a_key(store):
    keys, errors = [], []

    def start():
        try:
            keys.append(store.open_fresh("default", "hello").key)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(keys) == [f"default-hello-{n:02d}" for n in range(1, 21)]


@pytest.mark.parametrize("key", ["", " ", "a b", "../etc", "-lead", "x" * 101, "naïve", "a/b"])
def test_unusable_keys_are_refused_with_the_rule(key):
    with pytest.raises(InvalidKey, match="letters, digits"):
        check_key(key)


def test_typed_key_is_trimmed_and_reopens_the_same_run(store):
    run, is_new = store.open("  my-run.1 ", "hello")
    assert (run.key, is_new) == ("my-run.1", True)
    again, is_new = store.open("my-run.1", "hello")
    assert (again.key, is_new) == ("my-run.1", False)


def test_update_sets_and_removes_only_the_named_keys(store):
    run, _ = store.open("k", "hello")
    run.update(set={"name": "Ann", "greeting": "Hi"})
    run.update(remove=["greeting"])
    assert run.data == {"name": "Ann"}
    assert store.get("k").data == {"name": "Ann"}


def test_a_stale_copy_never_overwrites_a_newer_write(store):
    slow, _ = store.open("k", "hello")
    fast = store.get("k")
    fast.update(set={"step_02": "done elsewhere"})
    slow.update(set={"step_01": "late"})
    assert store.get("k").data == {"step_01": "late", "step_02": "done elsewhere"}


def test_concurrent_updates_of_different_keys_all_survive(store):
    store.open("k", "hello")

    def write(n):
        store.get("k").update(set={f"key{n}": n})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("k").data == {f"key{n}": n for n in range(30)}


def test_updating_a_missing_run_raises(store):
    with pytest.raises(KeyError):
        store.update("nope", {"a": 1})


def test_keys_lists_the_apps_runs_most_recent_first(store):
    first = store.open_fresh("default", "hello")
    store.open_fresh("default", "hello")
    store.open_fresh("default", "other")
    first.update(set={"touched": True})
    keys = store.keys("hello")
    assert set(keys) == {"default-hello-01", "default-hello-02"}
    assert keys[0] == "default-hello-01" or first.updated == store.get("default-hello-02").updated
