import httpx
import pytest

from tests.sim.helpers import count_query, newest_success


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["error_code"]


def test_request_without_token_is_refused_in_botify_shape(server):
    response = httpx.get(server.url + "/v1/authentication/profile")

    assert response.status_code == 401
    assert response.json()["error"].keys() == {"error_code", "message", "error_detail"}
    assert error_code(response) == "1001"


def test_any_token_is_accepted_by_default(api):
    response = api.get("/v1/authentication/profile")

    assert response.status_code == 200
    assert response.json()["data"]["username"]


def test_only_the_configured_token_is_accepted():
    from pipulate.sim import create_app
    from tests.support import ThreadServer

    with ThreadServer(create_app(token="right")) as server:
        url = server.url + "/v1/authentication/profile"
        wrong = httpx.get(url, headers={"Authorization": "Token wrong"})
        right = httpx.get(url, headers={"Authorization": "Token right"})

    assert (wrong.status_code, error_code(wrong)) == (401, "1001")
    assert right.status_code == 200


def test_analyses_are_paged_with_absolute_next_links_newest_first(api, server):
    first = api.get("/v1/analyses/demo-org/small-site/light").json()
    pages, url = [], "/v1/analyses/demo-org/small-site/light"
    while url:
        page = api.get(url).json()
        pages.append(page)
        url = page["next"]
        assert url is None or url.startswith(server.url + "/")

    slugs = [item["slug"] for page in pages for item in page["results"]]
    assert len(pages) >= 3
    assert first["count"] == len(slugs) == len(set(slugs))
    assert all(item["status"] == "success" for page in pages for item in page["results"])
    assert [item["date_launched"] for page in pages for item in page["results"]] == sorted(
        [item["date_launched"] for page in pages for item in page["results"]], reverse=True)
    assert pages[1]["previous"].startswith(server.url)


def test_analyses_can_include_unfinished_ones(api):
    page = api.get("/v1/analyses/demo-org/small-site",
                   params={"only_success": "false", "size": 100}).json()

    statuses = {item["status"] for item in page["results"]}
    assert "success" in statuses and statuses - {"success"}


def test_unknown_project_is_404_with_code_1010(api):
    response = api.get("/v1/analyses/demo-org/no-such-site/light")

    assert (response.status_code, error_code(response)) == (404, "1010")


def test_depth_query_answers_counts_per_depth(api):
    slug = newest_success("demo-org", "small-site")
    from pipulate.sim import data

    response = api.post("/v1/projects/demo-org/small-site/query", json=count_query(slug))

    body = response.json()
    assert response.status_code == 200
    assert body["size"] == 500 and body["page"] == 1 and body["next"] is None
    counts = {row["dimensions"][0]: row["metrics"][0] for row in body["results"]}
    assert counts == data.depth_counts("demo-org", "small-site", slug)


def test_depth_query_pages_with_next(api, server):
    slug = newest_success("demo-org", "small-site")

    first = api.post("/v1/projects/demo-org/small-site/query", params={"size": 4},
                     json=count_query(slug)).json()
    second = api.post(first["next"], json=count_query(slug)).json()

    assert len(first["results"]) == 4 and first["next"].startswith(server.url)
    assert second["page"] == 2 and second["results"][0]["dimensions"] == [4]


@pytest.mark.parametrize(("change", "status", "code"), [
    (lambda q: q["query"].pop("dimensions"), 400, "1020"),
    (lambda q: q["query"].pop("metrics"), 400, "1020"),
    (lambda q: q["query"].update(filter={}), 400, "1020"),
    (lambda q: q.pop("collections"), 400, "1020"),
    (lambda q: q["query"]["dimensions"].append("crawl.20250406.nonsense"), 400, "1029"),
    (lambda q: q.update(collections=["crawl.19990101"]), 404, "1004"),
])
def test_malformed_queries_are_refused(api, sim, change, status, code):
    sim.post("/_sim/faults", json={"rate_limit": False})
    body = count_query("20250406")
    change(body)

    response = api.post("/v1/projects/demo-org/small-site/query", json=body)

    assert (response.status_code, error_code(response)) == (status, code)


def test_unfinished_analysis_cannot_be_queried(api):
    from pipulate.sim import data

    unfinished = next(item for item in data.analyses("demo-org", "small-site")
                      if item["status"] != "success")["slug"]

    response = api.post("/v1/projects/demo-org/small-site/query", json=count_query(unfinished))

    assert (response.status_code, error_code(response)) == (404, "1004")
    assert unfinished in response.json()["error"]["message"]
