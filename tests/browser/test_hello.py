"""The hello workflow in headless Chromium against a real server."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def start_run(page, base_url) -> str:
    page.goto(f"{base_url}/hello")
    page.get_by_role("button", name="Start or resume").click()
    expect(page.locator("#step_01 input[name=name]")).to_be_visible()
    return page.locator("#run").get_attribute("data-key")


def complete_name(page, name):
    page.fill("#step_01 input[name=name]", name)
    page.locator("#step_01").get_by_role("button", name="Next").click()
    expect(page.locator("#step_02 input[name=greeting]")).to_be_visible()


def test_hello_workflow_from_first_step_to_finalize(page, hello_server):
    key = start_run(page, hello_server.url)
    assert key == "default-hello-01"
    expect(page).to_have_url(re.compile(r"/hello\?key=default-hello-01$"))

    complete_name(page, "Ann")
    expect(page.locator("#step_02 input[name=greeting]")).to_have_value("Hello, Ann!")
    page.locator("#step_02").get_by_role("button", name="Next").click()
    expect(page.locator("#greeting")).to_have_text("Hello, Ann!")

    page.get_by_role("button", name="Finalize").click()
    expect(page.locator("#finalize")).to_contain_text("locked")
    expect(page.get_by_role("button", name=re.compile("^Revert"))).to_have_count(0)


def test_revert_then_resubmit_rebuilds_the_later_steps(page, hello_server):
    start_run(page, hello_server.url)
    complete_name(page, "Ann")
    page.locator("#step_02").get_by_role("button", name="Next").click()
    expect(page.locator("#finalize")).to_be_visible()

    page.get_by_role("button", name="Revert to Your name").click()
    expect(page.locator("#step_01 input[name=name]")).to_have_value("Ann")
    expect(page.locator("#step_02")).to_have_count(0)
    expect(page.locator("#finalize")).to_have_count(0)

    page.fill("#step_01 input[name=name]", "Bob")
    page.locator("#step_01").get_by_role("button", name="Next").click()
    expect(page.locator("#step_02 input[name=greeting]")).to_have_value("Hello, Bob!")


def test_finalize_then_unlock_reopens_the_steps(page, hello_server):
    start_run(page, hello_server.url)
    complete_name(page, "Ann")
    page.locator("#step_02").get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Finalize").click()
    expect(page.get_by_role("button", name="Unlock")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Revert"))).to_have_count(0)

    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("button", name=re.compile("^Revert"))).to_have_count(2)
    page.get_by_role("button", name="Revert to Greeting").click()
    expect(page.locator("#step_02 input[name=greeting]")).to_have_value("Hello, Ann!")


def test_a_run_resumes_by_its_key_after_reloading(page, hello_server):
    key = start_run(page, hello_server.url)
    complete_name(page, "Ann")

    page.reload()
    expect(page.locator("#step_01")).to_contain_text("Ann")
    expect(page.locator("#step_02 input[name=greeting]")).to_be_visible()

    page.goto(f"{hello_server.url}/hello")
    expect(page.locator("#run #step_01")).to_have_count(0)
    page.fill("#landing input[name=key]", key)
    page.get_by_role("button", name="Start or resume").click()
    expect(page.locator("#step_01")).to_contain_text("Ann")
    expect(page.locator("#run")).to_have_attribute("data-key", key)


def test_two_tabs_on_two_keys_never_write_into_each_other(page, hello_server):
    other = page.context.new_page()
    first = start_run(page, hello_server.url)
    second = start_run(other, hello_server.url)
    assert first != second

    complete_name(page, "Ann")
    complete_name(other, "Bob")
    page.locator("#step_02").get_by_role("button", name="Next").click()
    other.locator("#step_02").get_by_role("button", name="Next").click()
    expect(page.locator("#greeting")).to_have_text("Hello, Ann!")
    expect(other.locator("#greeting")).to_have_text("Hello, Bob!")

    store = hello_server.settings
    from pipulate.engine.store import RunStore

    runs = RunStore(store.data / "pipulate.db")
    assert runs.get(first).data["greeting"] == "Hello, Ann!"
    assert runs.get(second).data["greeting"] == "Hello, Bob!"
    page.reload()
    expect(page.locator("#greeting")).to_have_text("Hello, Ann!")
