"""Engine rules exercised through the hello workflow's routes, with htmx's request header."""

import re
import shutil

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.support import ROOT

HTMX = {"HX-Request": "true"}


@pytest.fixture
def client(tmp_path):
    from pipulate.app import create_app

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "plugins" / "010_hello_workflow.py", plugins)
    settings = make_settings(tmp_path, plugins=plugins, botify_api_token="not-used")
    with TestClient(create_app(settings), base_url="http://localhost", headers=HTMX) as client:
        client.store = client.app.state.pipulate.store
        yield client


def start(client) -> str:
    response = client.post("/hello/init", data={"key": ""})
    assert response.status_code == 200
    return re.search(r'data-key="([^"]+)"', response.text).group(1)


def submit(client, key, step, **fields):
    return client.post(f"/hello/{step}_submit", data={"key": key, **fields})


def test_init_pushes_the_run_url_and_shows_the_first_step(client):
    response = client.post("/hello/init", data={"key": ""})
    assert response.headers["HX-Push-Url"] == "/hello?key=default-hello-01"
    assert 'id="step_01"' in response.text and 'id="step_02"' not in response.text


def test_completed_steps_render_down_to_the_first_open_one(client):
    key = start(client)
    html = submit(client, key, "step_01", name="  Ann   Lee ").text
    assert "Ann Lee" in html and 'value="Hello, Ann Lee!"' in html
    assert 'id="finalize"' not in html
    html = submit(client, key, "step_02", greeting="Hi Ann").text
    assert "Hi Ann" in html and 'id="finalize"' in html
    assert client.store.get(key).data["greeting"] == "Hi Ann"


def test_invalid_input_shows_a_message_and_keeps_what_was_typed(client):
    key = start(client)
    html = submit(client, key, "step_01", name="x" * 81).text
    assert "keep it to 80 or fewer" in html and 'value="' + "x" * 81 + '"' in html
    assert "name" not in client.store.get(key).data


def test_revert_clears_later_steps_and_refills_the_reopened_one(client):
    key = start(client)
    submit(client, key, "step_01", name="Ann")
    submit(client, key, "step_02", greeting="Hello, Ann!")
    html = client.post("/hello/revert", data={"key": key, "step": "step_01"}).text
    data = client.store.get(key).data
    assert "name" not in data and "greeting" not in data
    assert 'value="Ann"' in html and 'id="step_02"' not in html
    html = submit(client, key, "step_01", name="Bob").text
    assert 'value="Hello, Bob!"' in html


def test_submitting_a_completed_step_again_is_refused(client):
    key = start(client)
    submit(client, key, "step_01", name="Ann")
    html = submit(client, key, "step_01", name="Eve").text
    assert "already complete" in html
    assert client.store.get(key).data["name"] == "Ann"


def test_a_step_cannot_be_submitted_before_the_earlier_ones(client):
    key = start(client)
    html = submit(client, key, "step_02", greeting="Hi").text
    assert "earlier step" in html and "greeting" not in client.store.get(key).data


def test_finalize_needs_every_step_then_locks_until_unlocked(client):
    key = start(client)
    submit(client, key, "step_01", name="Ann")
    html = client.post("/hello/finalize", data={"key": key}).text
    assert "Finish every step first" in html and not client.store.get(key).is_finalized

    submit(client, key, "step_02", greeting="Hi")
    html = client.post("/hello/finalize", data={"key": key}).text
    assert client.store.get(key).is_finalized
    assert "Revert to" not in html and "Unlock" in html

    html = client.post("/hello/revert", data={"key": key, "step": "step_01"}).text
    assert "Unlock the run" in html and client.store.get(key).data["name"] == "Ann"
    html = submit(client, key, "step_02", greeting="Changed").text
    assert "finalized" in html and client.store.get(key).data["greeting"] == "Hi"

    html = client.post("/hello/unfinalize", data={"key": key}).text
    assert "Revert to" in html and not client.store.get(key).is_finalized


def test_step_get_renders_from_that_step_on(client):
    key = start(client)
    submit(client, key, "step_01", name="Ann")
    html = client.get(f"/hello/step_02?key={key}").text
    assert 'id="step_02"' in html and 'id="step_01"' not in html


def test_unknown_keys_and_keys_of_other_workflows_get_a_clear_message(client):
    html = client.get("/hello/step_01?key=nope").text
    assert "no longer exists" in html
    client.store.open("someone-else", "other_app")
    html = client.post("/hello/init", data={"key": "someone-else"}).text
    assert "belongs to another workflow" in html
    html = client.post("/hello/init", data={"key": "../../etc"}).text
    assert "not a usable run key" in html


def test_page_with_a_key_shows_the_run_and_without_offers_a_fresh_key(client):
    key = start(client)
    submit(client, key, "step_01", name="Ann")
    del client.headers["HX-Request"]
    page = client.get(f"/hello?key={key}").text
    assert "<!doctype html>" in page.lower() and "Ann" in page
    page = client.get("/hello").text
    assert 'placeholder="default-hello-02 (new run)"' in page and f'<option value="{key}"' in page


def test_an_empty_key_starts_a_new_run_and_a_typed_one_resumes_it(client):
    first = start(client)
    assert start(client) == "default-hello-02"
    html = client.post("/hello/init", data={"key": f"  {first} "}).text
    assert f'data-key="{first}"' in html
    html = client.post("/hello/init", data={"key": "default-hello-03"}).text
    assert 'data-key="default-hello-03"' in html
    assert start(client) == "default-hello-04"
