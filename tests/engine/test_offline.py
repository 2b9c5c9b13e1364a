"""Every page and static file the app serves references only the app's own host."""

import re
import time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

URL_ATTRS = {"src", "href", "action", "hx-get", "hx-post", "poster", "data", "srcset"}


class References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in URL_ATTRS and value]


def css_urls(css: str) -> list[str]:
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css)
    urls += re.findall(r"@import\s+['\"]([^'\"]+)", css)
    return [u for u in urls if not u.startswith("data:")]


def js_hosts(js: str) -> list[str]:
    return re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}(?::\d+)?/[^\s'\"]*", js, re.I)


def walk_an_export(base) -> dict[str, httpx.Response]:
    """Every kind of card the export shows, from step 1 to the finished file."""
    answers = {}
    started = httpx.post(base + "/botify_csv/init", data={"key": ""})
    key = re.search(r'data-key="([^"]+)"', started.text).group(1)
    steps = [("step_01", {"botify_url": "https://app.botify.com/demo-org/small-site/"}),
             ("step_02", {"analysis": "20250406"}), ("step_03", {"depth": "3"}),
             ("step_04", {"action": "start", "include_title": "on"})]
    for step, fields in steps:
        answers[f"/botify_csv/{step}_submit"] = httpx.post(
            f"{base}/botify_csv/{step}_submit", data={"key": key, **fields}, timeout=30)
    deadline = time.monotonic() + 30
    while 'id="export-file"' not in answers.get("/botify_csv/step_04", started).text:
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.3)
        answers["/botify_csv/step_04"] = httpx.get(f"{base}/botify_csv/step_04",
                                                   params={"key": key})
    answers[f"/botify_csv?key={key}"] = httpx.get(f"{base}/botify_csv", params={"key": key})
    return answers


def test_pages_and_static_files_reference_no_other_host(app_server):
    base = app_server.url
    own = urlsplit(base).netloc
    started = httpx.post(base + "/hello/init", data={"key": ""})
    key = re.search(r'data-key="([^"]+)"', started.text).group(1)
    served = {path: httpx.get(base + path) for path in
              ["/", "/hello", "/botify_csv", f"/hello?key={key}"]}
    served.update(walk_an_export(base))

    seen_static = set()
    for path, response in served.items():
        assert response.status_code == 200, path
        parser = References()
        parser.feed(response.text)
        for ref in parser.urls:
            if ref.startswith("data:"):
                continue
            target = urlsplit(urljoin(base + path, ref))
            assert target.netloc == own, f"{path} references {ref}"
            if target.path.startswith("/static/"):
                seen_static.add(target.path)

    assert {"/static/vendor/htmx/htmx.min.js", "/static/vendor/pico/pico.min.css",
            "/static/pipulate.js"} <= seen_static
    for path in seen_static:
        body = httpx.get(base + path).text
        refs = css_urls(body) if path.endswith(".css") else js_hosts(body)
        assert all(not urlsplit(urljoin(base, u)).netloc or urlsplit(urljoin(base, u)).netloc == own
                   for u in refs), f"{path} references {refs}"


def test_vendored_libraries_ship_with_their_licences():
    from tests.support import ROOT

    assert (ROOT / "static/vendor/htmx/LICENSE").read_text().strip()
    assert (ROOT / "static/vendor/pico/LICENSE.md").read_text().strip()
