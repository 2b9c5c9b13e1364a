"""Killing the app server in the middle of an export loses nothing and duplicates nothing."""

import json
import re
import time

import httpx
import pytest

from pipulate.sim import create_app as create_simulator
from pipulate.sim import data as sim_data
from tests.support import ROOT, ProcessServer, ThreadServer

pytestmark = pytest.mark.slow


@pytest.fixture
def simulator():
    with ThreadServer(create_simulator(job_seconds=3.0)) as server:
        yield server


def app_process(tmp_path, simulator, port=None):
    env = {
        "BOTIFY_API_TOKEN": "restart-test-token",
        "BOTIFY_API_BASE": f"{simulator.url}/v1",
        "PIPULATE_DATA": str(tmp_path / "data"),
        "PIPULATE_DOWNLOADS": str(tmp_path / "downloads"),
        "PIPULATE_PLUGINS": str(ROOT / "plugins"),
    }
    return ProcessServer(tmp_path, env=env, port=port)


def walk_to_export(base, project_url):
    started = httpx.post(f"{base}/botify_csv/init", data={"key": ""})
    key = re.search(r'data-key="([^"]+)"', started.text).group(1)
    steps = [("step_01", {"botify_url": project_url}), ("step_02", {}), ("step_03", {})]
    html = started.text
    for step, fields in steps:
        if step == "step_02":
            fields = {"analysis": re.search(r'<option value="([^"]+)" selected', html).group(1)}
        if step == "step_03":
            fields = {"depth": re.search(r'<option value="(\d+)" selected', html).group(1)}
        html = httpx.post(f"{base}/botify_csv/{step}_submit",
                          data={"key": key, **fields}, timeout=60).text
    fields = {"include_title": "on", "include_meta_desc": "on", "include_h1": "on"}
    html = httpx.post(f"{base}/botify_csv/step_04_submit",
                      data={"key": key, "action": "start", **fields}, timeout=60).text
    assert 'hx-trigger="every 2s"' in html
    return key


def registry(tmp_path):
    path = tmp_path / "downloads" / "export_registry.json"
    return json.loads(path.read_text())["exports"] if path.exists() else []


def poll_until_final(base, key, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        html = httpx.get(f"{base}/botify_csv/step_04?key={key}",
                         headers={"HX-Request": "true"}, timeout=30).text
        if 'id="export-file"' in html:
            return html
        assert "every 2s" in html, html
        time.sleep(0.5)
    raise AssertionError("The export never finished.")


def job_posts(simulator):
    log = httpx.get(f"{simulator.url}/_sim/log").json()
    return [r for r in log if r["method"] == "POST" and r["path"] == "/v1/jobs"]


def storage_gets(simulator):
    log = httpx.get(f"{simulator.url}/_sim/log").json()
    return [r for r in log if "/storage/" in r["path"]]


def leftovers(tmp_path):
    return [p for p in (tmp_path / "downloads").rglob(".*") if p.is_file()]


def test_a_restart_in_the_middle_of_a_job_resumes_polling_without_a_new_job(tmp_path, simulator):
    server = app_process(tmp_path, simulator).start()
    key = walk_to_export(server.url, "https://app.botify.com/demo-org/small-site/")
    assert [e["status"] for e in registry(tmp_path)] == ["PROCESSING"]
    server.kill()

    server = app_process(tmp_path, simulator, port=server.port).start()
    try:
        html = poll_until_final(server.url, key)
    finally:
        server.stop()

    entries = registry(tmp_path)
    assert len(entries) == 1 and entries[0]["status"] == "DOWNLOADED"
    assert len(job_posts(simulator)) == 1
    analysis = entries[0]["analysis"]
    rows = sum(sim_data.depth_counts("demo-org", "small-site", analysis).values())
    assert f"{rows:,}</strong> rows" in html
    assert leftovers(tmp_path) == []


def test_a_restart_in_the_middle_of_a_download_fetches_the_file_again(tmp_path, simulator):
    server = app_process(tmp_path, simulator).start()
    key = walk_to_export(server.url, "https://app.botify.com/demo-org/big-site/")
    deadline = time.monotonic() + 120
    while not any(e["status"] == "DOWNLOADING" for e in registry(tmp_path)):
        assert time.monotonic() < deadline, "the download never started"
        time.sleep(0.01)
    time.sleep(0.2)
    server.kill()
    entry = registry(tmp_path)[0]
    assert entry["status"] == "DOWNLOADING"
    target = tmp_path / "downloads" / "demo-org" / "big-site" / entry["analysis"]
    assert not any(p.suffix == ".csv" and not p.name.startswith(".") for p in target.iterdir())

    server = app_process(tmp_path, simulator, port=server.port).start()
    try:
        poll_until_final(server.url, key)
    finally:
        server.stop()

    entries = registry(tmp_path)
    assert len(entries) == 1 and entries[0]["status"] == "DOWNLOADED"
    assert len(job_posts(simulator)) == 1
    assert len(storage_gets(simulator)) == 2
    assert leftovers(tmp_path) == []
    rows = entries[0]["rows"]
    assert rows == sum(c for d, c in sim_data.depth_counts(
        "demo-org", "big-site", entries[0]["analysis"]).items() if d <= entries[0]["depth"])
    csv_file = tmp_path / "downloads" / entries[0]["local_file"]
    with open(csv_file, "rb") as handle:
        assert sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) \
            == rows + 2
