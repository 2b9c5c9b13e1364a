"""Every page and static file the app serves references only the app's own host."""

import re
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


def test_pages_and_static_files_reference_no_other_host(app_server):
    base = app_server.url
    own = urlsplit(base).netloc
    pages = ["/", "/hello", "/botify_csv"]
    started = httpx.post(base + "/hello/init", data={"key": ""})
    key = re.search(r'data-key="([^"]+)"', started.text).group(1)
    pages.append(f"/hello?key={key}")

    seen_static = set()
    for path in pages:
        response = httpx.get(base + path)
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

    assert {"/static/vendor/htmx/htmx.min.js", "/static/vendor/pico/pico.min.css"} <= seen_static
    for path in seen_static:
        body = httpx.get(base + path).text
        refs = css_urls(body) if path.endswith(".css") else js_hosts(body)
        assert all(not urlsplit(urljoin(base, u)).netloc or urlsplit(urljoin(base, u)).netloc == own
                   for u in refs), f"{path} references {refs}"


def test_vendored_libraries_ship_with_their_licences():
    from tests.support import ROOT

    assert (ROOT / "static/vendor/htmx/LICENSE").read_text().strip()
    assert (ROOT / "static/vendor/pico/LICENSE.md").read_text().strip()
