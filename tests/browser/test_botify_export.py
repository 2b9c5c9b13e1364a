"""The Botify CSV export in headless Chromium, in demo mode, against real servers."""

import csv
import json
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from pipulate.sim import data as sim_data
from tests.conftest import make_settings
from tests.support import ROOT, ThreadServer, free_port

pytestmark = pytest.mark.browser

SMALL_URL = "https://app.botify.com/demo-org/small-site/crawl?analysisSlug=20250330"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """The app in demo mode; its simulator's jobs take `job_seconds`."""
    from pipulate.app import create_app

    servers = []

    def start(job_seconds=1.0):
        monkeypatch.chdir(tmp_path)
        port = free_port()
        settings = make_settings(tmp_path, port=port, demo_job_seconds=job_seconds)
        server = ThreadServer(create_app(settings), port=port).start()
        server.settings = settings
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def sim(server, path, body=None):
    url = f"{server.url}/sim/_sim/{path}"
    response = httpx.post(url, json=body) if body is not None else httpx.get(url)
    response.raise_for_status()
    return response.json()


def registry(server) -> list[dict]:
    path = server.settings.downloads / "export_registry.json"
    return json.loads(path.read_text())["exports"] if path.exists() else []


def walk_to_export(page, server, url=SMALL_URL, depth=None) -> str:
    page.goto(f"{server.url}/botify_csv")
    page.get_by_role("button", name="Start or resume").click()
    page.fill("#step_01 input[name=botify_url]", f"  {url}  ")
    page.locator("#step_01").get_by_role("button", name="Next").click()
    page.locator("#step_02").get_by_role("button", name="Next").click()
    if depth is not None:
        page.select_option("#step_03 select[name=depth]", str(depth))
    page.locator("#step_03").get_by_role("button", name="Next").click()
    expect(page.get_by_role("button", name="Start export")).to_be_visible()
    return page.locator("#run").get_attribute("data-key")


def expected_rows(org, project, analysis, depth) -> int:
    counts = sim_data.depth_counts(org, project, analysis)
    return sum(count for d, count in counts.items() if d <= depth)


def test_four_steps_to_a_csv_on_disk_with_no_click_after_start(page, demo):
    server = demo(job_seconds=5.0)
    polls = []
    page.on("request", lambda r: polls.append(time.monotonic())
            if r.method == "GET" and "/botify_csv/step_04" in r.url else None)

    walk_to_export(page, server)
    expect(page.locator("#step_02")).to_contain_text("20250330")
    expect(page.locator("#step_03")).to_contain_text("Depth 9 or less")
    page.uncheck("input[name=include_meta_desc]")
    page.get_by_role("button", name="Start export").click()
    started = time.monotonic()

    expect(page.locator("#step_04 progress#export-progress")).to_be_visible()
    expect(page.locator("#step_04")).to_have_attribute("hx-trigger", "every 2s")
    expect(page.get_by_role("button", name=re.compile("check status|download", re.I))) \
        .to_have_count(0)
    expect(page.locator("#export-file")).to_be_visible(timeout=30_000)
    finished = time.monotonic()
    expect(page.locator("#finalize")).to_be_visible()
    expect(page.locator("#step_04")).not_to_have_attribute("hx-trigger", re.compile("."))

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#step_04").screenshot(path=ARTIFACTS / "botify-final-card.png")
    if os.environ.get("SAVE_FINAL_CARD"):
        shutil.copy(ARTIFACTS / "botify-final-card.png", os.environ["SAVE_FINAL_CARD"])

    path = Path(page.locator("#export-file").inner_text())
    assert path.parts[:4] == ("downloads", "demo-org", "small-site", "20250330")
    with open(path, newline="", encoding="utf-8") as handle:
        assert handle.readline() == "sep=,\n"
        lines = list(csv.reader(handle))
    assert lines[0] == ["Full URL", "Title", "metadata-h1-contents"]
    rows = expected_rows("demo-org", "small-site", "20250330", 9)
    assert len(lines) - 1 == rows
    expect(page.locator("#export-summary")).to_contain_text(f"{rows:,} rows")

    # About one poll per two seconds while the job ran, and none once the card was final.
    during = [t for t in polls if t <= finished]
    expected = (finished - started) / 2
    assert expected - 2 <= len(during) <= expected + 2, (len(during), finished - started)
    count = len(polls)
    page.wait_for_timeout(4500)
    assert len(polls) == count


def test_leaving_during_polling_and_coming_back_by_key(page, demo):
    server = demo(job_seconds=3.0)
    key = walk_to_export(page, server)
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#step_04[hx-trigger]")).to_have_count(1)

    # Away for the whole job: the server finishes the work with no page open.
    page.goto(f"{server.url}/")
    deadline = time.monotonic() + 30
    while not any(e["status"] == "DOWNLOADED" for e in registry(server)):
        assert time.monotonic() < deadline, "the export did not finish while the tab was away"
        page.wait_for_timeout(200)
    page.goto(f"{server.url}/botify_csv?key={key}")
    expect(page.locator("#export-file")).to_be_visible()
    expect(page.locator("#step_04[hx-trigger]")).to_have_count(0)

    entries = registry(server)
    assert len(entries) == 1 and entries[0]["status"] == "DOWNLOADED"
    log = sim(server, "log")
    assert sum(r["method"] == "POST" and r["path"].endswith("/v1/jobs") for r in log) == 1
    assert sum("/storage/" in r["path"] for r in log) == 1


def test_two_tabs_on_one_job_share_one_job_one_download_and_the_status_calls(page, demo):
    server = demo(job_seconds=6.0)
    key = walk_to_export(page, server)
    other = page.context.new_page()
    other.goto(f"{server.url}/botify_csv?key={key}")
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#step_04 progress")).to_be_visible()
    other.reload()
    expect(other.locator("#step_04 progress")).to_be_visible()

    expect(page.locator("#export-file")).to_be_visible(timeout=30_000)
    expect(other.locator("#export-file")).to_be_visible(timeout=10_000)

    log = sim(server, "log")
    assert sum(r["method"] == "POST" and r["path"].endswith("/v1/jobs") for r in log) == 1
    assert sum("/storage/" in r["path"] for r in log) == 1
    checks = [r["time"] for r in log if r["method"] == "GET" and "/v1/jobs/" in r["path"]]
    assert len(checks) >= 3
    gaps = [b - a for a, b in zip(checks, checks[1:], strict=False)]
    assert min(gaps) >= 1.9, gaps
    assert len(registry(server)) == 1


@pytest.mark.parametrize("fault, says", [("fail_jobs", "failed"), ("expire_downloads", "expired")])
def test_a_failed_job_or_expired_link_ends_in_an_error_card_whose_retry_works(
        page, demo, fault, says):
    server = demo(job_seconds=1.0)
    walk_to_export(page, server)
    sim(server, "faults", {fault: True})
    page.get_by_role("button", name="Start export").click()

    card = page.locator("#step_04[data-status=FAILED]")
    expect(card).to_be_visible(timeout=20_000)
    expect(card).to_contain_text(says)
    expect(page.locator("#step_04")).not_to_have_attribute("hx-trigger", re.compile("."))

    sim(server, "faults", {fault: False})
    card.get_by_role("button", name="Try again").click()
    expect(page.locator("#export-file")).to_be_visible(timeout=20_000)
    assert sorted(e["status"] for e in registry(server)) == ["DOWNLOADED", "FAILED"]
    downloads = server.settings.downloads / "demo-org" / "small-site" / "20250330"
    assert [p.name for p in downloads.iterdir()] == ["depth-9_h1-meta_description-title.csv"]


def test_revert_from_step_four_to_step_two_and_choose_another_analysis(page, demo):
    server = demo(job_seconds=1.0)
    walk_to_export(page, server)
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#export-file")).to_be_visible(timeout=20_000)

    page.get_by_role("button", name="Revert to Analysis").click()
    expect(page.locator("#step_03")).to_have_count(0)
    page.select_option("#step_02 select[name=analysis]", "20250323-2")
    page.locator("#step_02").get_by_role("button", name="Next").click()
    page.locator("#step_03").get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#export-file")).to_contain_text("20250323-2", timeout=20_000)

    page.get_by_role("button", name="Revert to Analysis").click()
    expect(page.locator("#step_02 option[value='20250330']")).to_contain_text("already exported")


def test_a_downloaded_export_is_offered_again_instead_of_a_new_job(page, demo):
    server = demo(job_seconds=1.0)
    walk_to_export(page, server)
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#export-file")).to_be_visible(timeout=20_000)

    walk_to_export(page, server)
    page.get_by_role("button", name="Start export").click()
    page.get_by_role("button", name="Use that file").click()
    expect(page.locator("#export-file")).to_be_visible()
    log = sim(server, "log")
    assert sum(r["method"] == "POST" and r["path"].endswith("/v1/jobs") for r in log) == 1


def test_coming_back_to_a_running_export_resumes_its_polling(page, demo):
    server = demo(job_seconds=4.0)
    key = walk_to_export(page, server)
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#step_04 progress")).to_be_visible()

    page.goto(f"{server.url}/")
    page.goto(f"{server.url}/botify_csv?key={key}")
    expect(page.locator("#step_04[hx-trigger]")).to_have_count(1)
    expect(page.locator("#export-file")).to_be_visible(timeout=30_000)
    assert sum("/storage/" in r["path"] for r in sim(server, "log")) == 1


def test_focus_moves_to_the_next_open_step_after_each_submit(page, demo):
    server = demo(job_seconds=1.0)
    page.goto(f"{server.url}/botify_csv")
    page.get_by_role("button", name="Start or resume").click()
    page.fill("#step_01 input[name=botify_url]", SMALL_URL)
    page.keyboard.press("Enter")
    expect(page.locator("#step_02 select[name=analysis]")).to_be_focused()
    page.locator("#step_02").get_by_role("button", name="Next").click()
    expect(page.locator("#step_03 select[name=depth]")).to_be_focused()
    page.locator("#step_03").get_by_role("button", name="Next").click()
    expect(page.locator("#step_04 input[name=include_title]")).to_be_focused()


def test_a_lost_server_is_reported_while_polling(page, demo):
    server = demo(job_seconds=30.0)
    walk_to_export(page, server)
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#step_04[hx-trigger]")).to_have_count(1)

    server.stop()
    expect(page.locator("#lost-contact")).to_contain_text("Lost contact with Pipulate",
                                                          timeout=10_000)
