"""The Botify CSV export workflow's edge cases, over real sockets, as htmx would drive it.

Each test runs the whole app (demo mode unless it says otherwise) on a free loopback port and
posts the forms a browser would post, with the `HX-Request` header. The simulator behind the
app injects the faults; its request log tells how many jobs and downloads really happened.
"""

import html
import inspect
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from pipulate.botify.client import BotifyClient
from pipulate.botify.depth import EXPORT_ROW_CAP
from pipulate.engine.store import RunStore
from pipulate.sim import create_app as create_simulator
from pipulate.sim import data as sim_data
from tests.conftest import make_settings
from tests.support import ThreadServer, free_port

HTMX = {"HX-Request": "true"}
ALL_FIELDS = {"include_title": "on", "include_meta_desc": "on", "include_h1": "on"}
STATE_OF_STEP_1 = ("botify_url", "org", "project", "analysis_hint")


def success_slugs(org, project):
    """The project's finished analyses, newest first, as the simulator lists them."""
    return [a["slug"] for a in sim_data.analyses(org, project) if a["status"] == "success"]


SMALL = success_slugs("demo-org", "small-site")
BIG = success_slugs("demo-org", "big-site")
SMALL_UNFINISHED = next(a["slug"] for a in sim_data.analyses("demo-org", "small-site")
                        if a["status"] != "success")


class HtmxClient:
    """Posts what the page's forms and buttons would post, and keeps every body it got back."""

    def __init__(self, server):
        self.server, self.base = server, server.url
        self.http = httpx.Client(base_url=server.url, headers=HTMX, timeout=60)
        self.bodies: list[str] = []

    def _keep(self, response):
        assert response.status_code == 200, (response.status_code, response.text)
        assert "Traceback" not in response.text
        self.bodies.append(response.text)
        return response.text

    def get(self, path, **params):
        return self._keep(self.http.get(path, params=params))

    def post(self, path, **fields):
        return self._keep(self.http.post(path, data=fields))

    def start(self) -> str:
        page = self.post("/botify_csv/init", key="")
        return re.search(r'data-key="([^"]+)"', page).group(1)

    def submit(self, key, step, **fields):
        return self.post(f"/botify_csv/{step}_submit", key=key, **fields)

    def walk_to_step_4(self, project_url) -> str:
        """A fresh run through steps 1 to 3, taking what each step preselects."""
        key = self.start()
        page = self.submit(key, "step_01", botify_url=project_url)
        page = self.submit(key, "step_02", analysis=selected(card(page, "step_02")))
        self.submit(key, "step_03", depth=selected(card(page, "step_03")))
        return key

    def start_export(self, project_url="https://app.botify.com/demo-org/small-site/"):
        key = self.walk_to_step_4(project_url)
        page = self.submit(key, "step_04", action="start", **ALL_FIELDS)
        assert 'hx-trigger="every 2s"' in card(page, "step_04")
        return key

    def wait_for_export(self, key, timeout=30.0) -> str:
        """Poll the step 4 card as htmx would until it stops polling; return that card."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            step_4 = card(self.get("/botify_csv/step_04", key=key), "step_04")
            if "hx-trigger" not in step_4:
                return step_4
            time.sleep(0.2)
        raise AssertionError(f"The step 4 card still polls after {timeout} s.")

    def sim(self, path, body=None):
        """The simulator's control API (demo mode mounts the simulator at /sim)."""
        return sim_control(f"{self.base}/sim", path, body)

    def state(self, key) -> dict:
        return RunStore(self.server.settings.data / "pipulate.db").get(key).data

    def registry(self) -> list[dict]:
        path = self.server.settings.downloads / "export_registry.json"
        return json.loads(path.read_text())["exports"] if path.exists() else []

    def close(self):
        self.http.close()


def sim_control(sim_url, path, body=None):
    url = f"{sim_url}/_sim/{path}"
    response = httpx.post(url, json=body) if body is not None else httpx.get(url)
    response.raise_for_status()
    return response.json()


def job_posts(log):
    return [r for r in log if r["method"] == "POST" and r["path"].endswith("/v1/jobs")]


def storage_gets(log):
    return [r for r in log if "/storage/" in r["path"]]


def card(page, step_id) -> str:
    """The article of one step, unescaped; fails when the page has no such card."""
    match = re.search(rf'<article[^>]*id="{step_id}".*?</article>', page, re.S)
    assert match, f"no #{step_id} card in:\n{page}"
    return html.unescape(match.group(0))


def selected(card_html) -> str:
    match = re.search(r'<option value="([^"]*)" selected', card_html)
    assert match, f"nothing preselected in:\n{card_html}"
    return match.group(1)


def offered(card_html) -> list[str]:
    return re.findall(r'<option value="([^"]*)"', card_html)


def depth_plan(org, project, slug):
    """(deepest depth whose cumulative count fits the cap, every depth with its cumulative)."""
    cumulative, rows = 0, []
    for depth, count in sorted(sim_data.depth_counts(org, project, slug).items()):
        cumulative += count
        rows.append((depth, cumulative))
    fitting = [depth for depth, total in rows if total <= EXPORT_ROW_CAP]
    return (fitting[-1] if fitting else None), rows


def leftovers(folder):
    return sorted(p.name for p in folder.rglob(".*") if p.is_file())


@pytest.fixture
def app(app_server):
    client = HtmxClient(app_server)
    yield client
    client.close()


@pytest.fixture
def demo(tmp_path):
    """Start the demo app on a port (a fresh one by default); every server stops at the end."""
    from pipulate.app import create_app

    servers, clients = [], []

    def start(port=None, **overrides):
        port = port or free_port()
        settings = make_settings(tmp_path, port=port, **overrides)
        server = ThreadServer(create_app(settings), port=port).start()
        server.settings = settings
        servers.append(server)
        clients.append(HtmxClient(server))
        return clients[-1]

    yield start
    for client in clients:
        client.close()
    for server in reversed(servers):
        server.stop()


# Step 1: the pasted URL.

@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("https://app.botify.com/demo-org/../", 'a ".." part in its path'),
        ("https://app.botify.com/demo-org/small%2Fsite/", "hides a slash"),
        ("evil.com/a/b", 'is on "evil.com", not app.botify.com'),
        ("app.botify.com.evil.com/a/b", 'is on "app.botify.com.evil.com", not app.botify.com'),
        ("", "Paste a Botify project URL"),
        ("    ", "Paste a Botify project URL"),
    ],
    ids=["dot-dot-project", "encoded-slash", "other-host", "lookalike-host", "empty", "spaces"],
)
def test_bad_project_url_is_refused_inline_keeping_what_was_typed(app, typed, problem):
    key = app.start()

    page = app.submit(key, "step_01", botify_url=typed)

    step_1 = card(page, "step_01")
    assert problem in step_1
    assert 'role="alert"' in step_1
    assert re.search(r'<input name="botify_url" value="([^"]*)"', step_1).group(1) == typed
    assert 'id="step_02"' not in page
    assert not set(STATE_OF_STEP_1) & app.state(key).keys()


# Step 2: which analysis.

@pytest.mark.parametrize(
    ("url", "project", "analysis"),
    [
        ("https://app.botify.com/demo-org/small-site/", "small-site", SMALL[0]),
        (f"https://app.botify.com/demo-org/small-site/crawl?analysisSlug={SMALL[1]}"
         f"&comparisonAnalysisSlug={SMALL[2]}", "small-site", SMALL[1]),
        (f"https://app.botify.com/demo-org/small-site/crawl/segments?context=%7B%7D"
         f"&analysisSlug={SMALL[-1]}", "small-site", SMALL[-1]),
        (f"https://app.botify.com/demo-org/small-site/{SMALL[3]}/", "small-site", SMALL[3]),
        ("https://app.botify.com/demo-org/small-site/keywords/overview", "small-site", SMALL[0]),
        (f"https://analyze.botify.com/demo-org/big-site/{BIG[2]}", "big-site", BIG[2]),
        (f"  app.botify.com/demo-org/big-site?analysisSlug={BIG[1]}  ", "big-site", BIG[1]),
    ],
    ids=["project", "crawl-query", "segments-query", "analysis-path", "keywords", "analyze-host",
         "no-scheme"],
)
def test_every_project_url_form_reaches_step_2_with_its_analysis_preselected(
        app, url, project, analysis):
    key = app.start()

    page = app.submit(key, "step_01", botify_url=url)

    assert f"demo-org / {project}" in card(page, "step_01")
    step_2 = card(page, "step_02")
    assert selected(step_2) == analysis
    assert offered(step_2) == success_slugs("demo-org", project)
    assert "not among the finished ones" not in step_2
    state = app.state(key)
    assert (state["org"], state["project"]) == ("demo-org", project)
    assert state["botify_url"] == f"https://app.botify.com/demo-org/{project}/"


@pytest.mark.parametrize("analysis", ["19990101", SMALL_UNFINISHED], ids=["unknown", "unfinished"])
def test_a_url_naming_no_finished_analysis_preselects_the_newest_with_a_note(app, analysis):
    assert analysis not in SMALL
    key = app.start()

    page = app.submit(key, "step_01",
                          botify_url=f"https://app.botify.com/demo-org/small-site/{analysis}/")

    step_2 = card(page, "step_02")
    assert selected(step_2) == SMALL[0]
    assert f"The analysis {analysis} from the URL is not among the finished ones" in step_2
    assert 'class="notice info"' in step_2


def test_a_project_without_finished_analyses_offers_only_the_way_back(app):
    key = app.start()

    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/empty-site/")

    step_2 = card(page, "step_02")
    assert "demo-org/empty-site has no finished analysis" in step_2
    assert "<form" not in step_2 and "Next" not in step_2
    assert "Revert to Project URL" in step_2 and '"step": "step_01"' in step_2

    page = app.post("/botify_csv/revert", key=key, step="step_01")
    assert 'value="https://app.botify.com/demo-org/empty-site/"' in card(page, "step_01")
    assert 'id="step_02"' not in page


@pytest.mark.slow
def test_botify_errors_while_listing_analyses_show_an_error_card_with_a_retry(app):
    # Enough 5xx answers to use up every attempt the client makes.
    attempts = inspect.signature(BotifyClient).parameters["max_attempts"].default
    key = app.start()
    app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/small-site/")
    app.sim("faults", {"error_burst": attempts})

    step_2 = card(app.get("/botify_csv/step_02", key=key), "step_02")

    assert "Could not list the analyses" in step_2 and "HTTP 503" in step_2
    assert "Try again" in step_2 and "Revert to Project URL" in step_2
    assert "<select" not in step_2
    assert app.sim("faults")["error_burst"] == 0

    step_2 = card(app.get("/botify_csv/step_02", key=key), "step_02")
    assert selected(step_2) == SMALL[0]


def test_a_revoked_token_while_listing_analyses_shows_an_error_card_with_a_retry(app):
    key = app.start()
    app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/small-site/")
    app.sim("faults", {"revoked": True})

    step_2 = card(app.get("/botify_csv/step_02", key=key), "step_02")

    assert "Could not list the analyses" in step_2 and "HTTP 401" in step_2
    assert "no longer works" in step_2 and "botify_token.txt" in step_2
    assert "Try again" in step_2 and "Revert to Project URL" in step_2


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://app.botify.com/acme-org/secret-site/",
         "HTTP 403, error 1002: You do not have permission to access acme-org/secret-site"),
        ("https://app.botify.com/demo-org/no-such-site/",
         "HTTP 404, error 1010: Project demo-org/no-such-site does not exist"),
    ],
    ids=["forbidden", "unknown"],
)
def test_a_project_botify_will_not_open_is_refused_at_step_1_saying_why(app, url, reason):
    key = app.start()

    page = app.submit(key, "step_01", botify_url=url)

    step_1 = card(page, "step_01")
    assert "Could not open that project" in step_1 and reason in step_1
    assert f'value="{url}"' in step_1 and 'id="step_02"' not in page
    assert not set(STATE_OF_STEP_1) & set(app.state(key))


def test_botify_failing_when_step_2_is_submitted_records_nothing_and_shows_why(app, caplog):
    key = app.start()
    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/small-site/")
    app.sim("faults", {"revoked": True})

    page = app.submit(key, "step_02", analysis=selected(card(page, "step_02")))

    step_2 = card(page, "step_02")
    assert "HTTP 401" in step_2 and "no longer works" in step_2 and "Try again" in step_2
    assert "analysis" not in app.state(key) and 'id="step_03"' not in page
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# Step 3: how deep.

def test_a_home_page_level_over_the_cap_explains_itself_and_offers_the_way_back(app):
    key = app.start()
    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/giant-home/")
    analysis = selected(card(page, "step_02"))
    depth_0 = sim_data.depth_counts("demo-org", "giant-home", analysis)[0]

    page = app.submit(key, "step_02", analysis=analysis)

    step_3 = card(page, "step_03")
    assert f"Depth 0 alone holds {depth_0:,} URLs, more than the 1,000,000 rows" in step_3
    assert "<form" not in step_3 and "<select" not in step_3
    assert "Depth -1" not in step_3 and 'value="-1"' not in step_3
    assert "Revert to Analysis" in step_3

    page = app.submit(key, "step_03", depth="0")
    assert "<select" not in card(page, "step_03") and "depth" not in app.state(key)


def test_the_deepest_depth_that_fits_is_preselected_and_nothing_deeper_is_offered(app):
    key = app.start()
    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/big-site/")
    analysis = selected(card(page, "step_02"))
    safe, rows = depth_plan("demo-org", "big-site", analysis)
    assert safe is not None and rows[-1][0] > safe

    page = app.submit(key, "step_02", analysis=analysis)

    step_3 = card(page, "step_03")
    assert selected(step_3) == str(safe)
    assert sorted(map(int, offered(step_3))) == list(range(safe + 1))
    fitting = dict(rows)[safe]
    assert f"Depth {safe} or less: {fitting:,} URLs" in step_3


@pytest.mark.parametrize("typed", ["deeper", "-1", "abc", "4.0", ""])
def test_a_depth_typed_by_hand_outside_the_list_is_refused_with_a_message(app, typed):
    key = app.start()
    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/big-site/")
    analysis = selected(card(page, "step_02"))
    app.submit(key, "step_02", analysis=analysis)
    safe, _ = depth_plan("demo-org", "big-site", analysis)
    depth = str(safe + 1) if typed == "deeper" else typed

    page = app.submit(key, "step_03", depth=depth)

    step_3 = card(page, "step_03")
    if typed in ("deeper", "-1"):
        assert f"Depth {depth} is not allowed: the deepest that fits is {safe}." in step_3
    else:
        assert "Pick a depth from the list." in step_3
    assert selected(step_3) == str(safe)
    assert "depth" not in app.state(key) and 'id="step_04"' not in page


# Step 4: the export.

def test_two_simultaneous_starts_create_one_job_and_one_registry_entry(app):
    key = app.walk_to_step_4("https://app.botify.com/demo-org/small-site/")
    # Slow answers widen the window in which the second click could create a second job.
    app.sim("faults", {"slow_seconds": 0.5})
    form = {"key": key, "action": "start", **ALL_FIELDS}

    def click():
        return httpx.post(f"{app.base}/botify_csv/step_04_submit", data=form, headers=HTMX,
                          timeout=30)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: click(), range(2)))

    for answer in answers:
        assert answer.status_code == 200
        assert 'hx-trigger="every 2s"' in card(answer.text, "step_04")
    app.sim("faults", {"slow_seconds": 0})
    assert 'id="export-file"' in app.wait_for_export(key)
    assert len(job_posts(app.sim("log"))) == 1
    assert [e["status"] for e in app.registry()] == ["DOWNLOADED"]


def test_a_token_revoked_mid_job_ends_polling_and_try_again_resumes_the_same_job(app):
    key = app.start_export()
    app.sim("faults", {"revoked": True})

    step_4 = app.wait_for_export(key)

    assert 'data-status="FAILED"' in step_4
    assert "Checking the job's status failed" in step_4 and "no longer works" in step_4
    assert "Try again" in step_4 and '"action": "retry"' in step_4

    app.sim("faults", {"revoked": False})
    app.submit(key, "step_04", action="retry")
    step_4 = app.wait_for_export(key)

    assert 'id="export-file"' in step_4
    log = app.sim("log")
    assert len(job_posts(log)) == 1 and len(storage_gets(log)) == 1
    assert [e["status"] for e in app.registry()] == ["DOWNLOADED"]


def test_a_truncated_download_leaves_no_file_and_try_again_fetches_it_without_a_new_job(
        app):
    key = app.start_export()
    app.sim("faults", {"truncate_downloads": True})
    folder = app.server.settings.downloads / "demo-org"

    step_4 = app.wait_for_export(key)

    assert 'data-status="FAILED"' in step_4 and "Try again" in step_4
    assert "The download was cut short" in step_4 and "no file was saved" in step_4
    assert list(folder.rglob("*.csv")) == [] and leftovers(folder) == []
    (entry,) = app.registry()
    assert entry["status"] == "FAILED" and entry["local_file"] is None

    app.sim("faults", {"truncate_downloads": False})
    app.submit(key, "step_04", action="retry")
    step_4 = app.wait_for_export(key)

    assert 'id="export-file"' in step_4
    log = app.sim("log")
    assert len(job_posts(log)) == 1 and len(storage_gets(log)) == 2
    (entry,) = app.registry()
    rows = sum(c for d, c in sim_data.depth_counts(
        "demo-org", "small-site", entry["analysis"]).items() if d <= entry["depth"])
    assert entry["status"] == "DOWNLOADED" and entry["rows"] == rows
    assert [p.name for p in folder.rglob("*.csv")] == ["depth-9_h1-meta_description-title.csv"]
    assert leftovers(folder) == []


def test_an_unreadable_registry_is_set_aside_and_the_app_keeps_working(demo, caplog):
    app = demo()
    key = app.start_export()
    app.wait_for_export(key)
    port = app.server.port
    app.server.stop()
    registry = app.server.settings.downloads / "export_registry.json"
    registry.write_text('{"version": 1, "exports": [{"id": ')

    app = demo(port=port)
    page = app.get("/botify_csv", key=key)
    assert "export-file" in page

    key = app.start_export()
    assert 'id="export-file"' in app.wait_for_export(key)
    (aside,) = registry.parent.glob("export_registry.json.corrupt-*")
    assert aside.read_text() == '{"version": 1, "exports": [{"id": '
    assert [e["status"] for e in app.registry()] == ["DOWNLOADED"]
    assert any("could not be read" in r.getMessage() and r.levelname == "ERROR"
               for r in caplog.records)


def test_the_token_appears_in_no_page_no_log_and_no_storage_request(tmp_path, caplog):
    from pipulate.app import create_app

    token = "sekrit-token-123"
    caplog.set_level(logging.DEBUG)
    with ThreadServer(create_simulator(token=token, job_seconds=1.0)) as simulator:
        port = free_port()
        settings = make_settings(tmp_path, port=port, botify_api_token=token,
                                 botify_api_base=f"{simulator.url}/v1")
        with ThreadServer(create_app(settings), port=port) as server:
            server.settings = settings
            app = HtmxClient(server)
            try:
                key = app.start_export()
                assert 'id="export-file"' in app.wait_for_export(key)
                app.get("/botify_csv", key=key)
                app.http.headers.pop("HX-Request")
                app.get("/botify_csv", key=key)
                app.get("/")
            finally:
                app.close()
        log = sim_control(simulator.url, "log")

    assert "Demo mode" not in app.bodies[-1]
    assert not [body for body in app.bodies if token in body]
    assert any(r.name == "pipulate.botify.client" for r in caplog.records)
    assert token not in caplog.text
    assert not [r for r in caplog.records if token in r.getMessage()]
    assert {r["authorization"] for r in log if r["path"].startswith("/v1/")} \
        == {f"Token {token}"}
    assert storage_gets(log) and {r["authorization"] for r in storage_gets(log)} == {None}


# What happens to an export after it is done, or when its records go away.

def test_a_deleted_export_file_is_reported_and_no_longer_marked_exported(app):
    key = app.start_export()
    assert 'id="export-file"' in app.wait_for_export(key)
    (entry,) = app.registry()
    (app.server.settings.downloads / entry["local_file"]).unlink()

    page = app.get("/botify_csv", key=key)
    assert "is no longer on disk; revert this step to export it again" in card(page, "step_04")
    page = app.post("/botify_csv/revert", key=key, step="step_02")
    assert "already exported" not in card(page, "step_02")


def test_an_export_the_registry_lost_is_reported_and_can_be_started_again(app):
    key = app.start_export()
    app.server.settings.downloads.joinpath("export_registry.json").write_text("{}")

    step_4 = card(app.get("/botify_csv/step_04", key=key), "step_04")
    assert "no longer knows this run's export" in step_4 and "Start export" in step_4
    page = app.submit(key, "step_04", action="start", **ALL_FIELDS)
    assert 'hx-trigger="every 2s"' in card(page, "step_04")
    assert 'id="export-file"' in app.wait_for_export(key)



def test_reverting_to_step_3_keeps_the_depth_chosen_before(app):
    key = app.start()
    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/small-site/")
    page = app.submit(key, "step_02", analysis=selected(card(page, "step_02")))
    safe = int(selected(card(page, "step_03")))
    app.submit(key, "step_03", depth=str(safe - 2))

    page = app.post("/botify_csv/revert", key=key, step="step_03")

    assert selected(card(page, "step_03")) == str(safe - 2)


def test_analyses_on_several_pages_are_all_offered_newest_first(app):
    slugs = success_slugs("demo-org", "weekly-site")
    assert len(slugs) > 200
    key = app.start()

    page = app.submit(key, "step_01", botify_url="https://app.botify.com/demo-org/weekly-site/")

    step_2 = card(page, "step_02")
    assert offered(step_2) == slugs and selected(step_2) == slugs[0]
    requests = [r for r in app.sim("log") if "/analyses/demo-org/weekly-site" in r["path"]]
    assert len({r["query"] for r in requests}) >= 3


def test_a_token_botify_refuses_is_named_on_every_page_from_the_start(tmp_path, caplog):
    from pipulate.app import create_app

    with ThreadServer(create_simulator(token="the-right-token")) as simulator:
        port = free_port()
        settings = make_settings(tmp_path, port=port, botify_api_token="a-wrong-token",
                                 botify_api_base=f"{simulator.url}/v1")
        with ThreadServer(create_app(settings), port=port) as server:
            deadline = time.monotonic() + 10
            while "Botify refused the token" not in (page := httpx.get(server.url + "/").text):
                assert time.monotonic() < deadline, "the token was never checked"
                time.sleep(0.1)
            workflow_page = httpx.get(server.url + "/botify_csv").text

    assert "botify_token.txt" in page and "Botify refused the token" in workflow_page
    assert "a-wrong-token" not in page and "a-wrong-token" not in caplog.text
    assert "Botify refused the token" in caplog.text
