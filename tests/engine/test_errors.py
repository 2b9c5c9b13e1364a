"""A workflow that fails shows a short message and a way forward, never a traceback."""

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings

FAULTY = '''
from pipulate.engine import Step, Workflow


class Faulty(Workflow):
    app_name = "faulty"
    display_name = "Faulty"
    description = "Fails on purpose."
    steps = [Step("step_01", "One", done="one"), Step("step_02", "Two", done="two")]

    def step_01_form(self, run, values):
        return self.form(run, "step_01")

    def step_01_submit(self, run, form):
        if form.get("mode") == "crash":
            raise RuntimeError("secret internals /etc/passwd")
        return {"one": 1}

    def step_01_done(self, run):
        raise KeyError("done view broke")

    def step_02_form(self, run, values):
        raise ZeroDivisionError("form broke")

    def step_02_submit(self, run, form):
        return {"two": 2}

    def step_02_done(self, run):
        return "two"
'''


@pytest.fixture
def client(tmp_path):
    from pipulate.app import create_app

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "010_faulty.py").write_text(FAULTY)
    settings = make_settings(tmp_path, plugins=plugins, botify_api_token="unused")
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost", headers={"HX-Request": "true"}) as client:
        client.post("/faulty/init", data={"key": "k1"})
        yield client


def assert_no_traceback(html: str):
    for leak in ("Traceback", "RuntimeError", "ZeroDivisionError", "KeyError", "/etc/passwd"):
        assert leak not in html


def test_a_crashing_submit_keeps_the_step_open_with_a_message(client, caplog):
    response = client.post("/faulty/step_01_submit", data={"key": "k1", "mode": "crash"})
    assert response.status_code == 200
    assert "Something went wrong with this step; nothing was lost" in response.text
    assert_no_traceback(response.text)
    assert "secret internals" in caplog.text and "Traceback" in caplog.text


def test_failing_views_become_error_cards_with_a_way_forward(client):
    response = client.post("/faulty/step_01_submit", data={"key": "k1"})
    assert response.status_code == 200
    assert "its result could not be shown" in response.text
    assert "This step could not be shown" in response.text
    assert "Try again" in response.text and "Revert to One" in response.text
    assert_no_traceback(response.text)


def test_an_unhandled_error_in_a_route_is_a_short_message(client, caplog):
    client.app.state.pipulate.store.get = None
    quiet = TestClient(client.app, base_url="http://localhost", raise_server_exceptions=False)
    response = quiet.post("/faulty/revert", data={"key": "k1", "step": "step_01"},
                          headers={"HX-Request": "true"})
    assert response.headers["HX-Retarget"] == "#flash"
    assert "nothing was lost" in response.text
    assert_no_traceback(response.text)
    page = quiet.get("/faulty?key=k1")
    assert page.status_code == 500 and "nothing was lost" in page.text
    assert_no_traceback(page.text)


def test_a_post_from_another_site_is_refused(client):
    response = client.post("/faulty/step_01_submit", data={"key": "k1"},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "one" not in client.app.state.pipulate.store.get("k1").data
    same = client.post("/faulty/step_01_submit", data={"key": "k1"},
                       headers={"Origin": "http://localhost"})
    assert same.status_code == 200


def test_a_request_for_another_host_name_is_refused(client):
    assert client.get("/", headers={"Host": "rebound.example"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:5001"}).status_code == 200
