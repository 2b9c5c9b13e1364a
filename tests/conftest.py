import os
from pathlib import Path

import pytest

from tests.support import ROOT, ThreadServer, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch, tmp_path):
    """No test may reach a real Botify: clear the token and aim the API base at a dead port."""
    for name in list(os.environ):
        if name.startswith(("BOTIFY_", "PIPULATE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOTIFY_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PIPULATE_TOKEN_FILE", str(tmp_path / "no-token.txt"))


def make_settings(tmp_path: Path, **overrides):
    from pipulate.config import Settings

    values = dict(
        data=tmp_path / "data",
        downloads=tmp_path / "downloads",
        plugins=ROOT / "plugins",
        token_file=tmp_path / "no-token.txt",
        demo_job_seconds=1.0,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app_server(tmp_path):
    """The whole app in demo mode, served by uvicorn on a free loopback port."""
    from pipulate.app import create_app

    port = free_port()
    settings = make_settings(tmp_path, port=port)
    with ThreadServer(create_app(settings), port=port) as server:
        server.settings = settings
        yield server


@pytest.fixture
def hello_server(tmp_path):
    """The app with only the hello workflow, and a token so the simulator stays off."""
    import shutil

    from pipulate.app import create_app

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "plugins" / "010_hello_workflow.py", plugins)
    port = free_port()
    settings = make_settings(tmp_path, port=port, plugins=plugins, botify_api_token="unused")
    with ThreadServer(create_app(settings), port=port) as server:
        server.settings = settings
        yield server


# Module scope: sync Playwright holds an event loop on the main thread while the browser is open,
# which would stop later async tests from starting their own.
@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run 'make test', which installs Debian's chromium.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
