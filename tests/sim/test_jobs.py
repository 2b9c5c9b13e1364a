import csv
import gzip
import io
import json
import time
import zipfile

import httpx
import pytest

from pipulate.sim import data
from tests.sim.helpers import FIELDS, export_body, newest_success, wait_done

SLUG = newest_success("demo-org", "small-site")


def cumulative(depth: int) -> int:
    counts = data.depth_counts("demo-org", "small-site", SLUG)
    return sum(count for level, count in counts.items() if level <= depth)


def read_csv(text: str) -> list[list[str]]:
    lines = text.splitlines(keepends=True)
    assert lines[0] == "sep=,\n"
    return list(csv.reader(io.StringIO("".join(lines[1:]))))


def test_created_job_answers_201_with_a_relative_job_url(api):
    response = api.post("/v1/jobs", json=export_body("demo-org", "small-site", SLUG))

    job = response.json()
    assert response.status_code == 201
    assert job["job_status"] == "CREATED" and job["job_type"] == "export"
    assert job["job_url"] == f"/v1/jobs/{job['job_id']}"
    assert job["results"] is None and job["date_created"]
    assert job["payload"]["project"] == "small-site"


def test_job_moves_from_created_through_processing_to_done(api, sim):
    sim.post("/_sim/faults", json={"rate_limit": False})
    job_url = api.post("/v1/jobs", json=export_body("demo-org", "small-site", SLUG)).json()[
        "job_url"]
    seen = []
    deadline = time.monotonic() + 3
    while "DONE" not in seen and time.monotonic() < deadline:
        response = api.get(job_url)
        if response.status_code == 200:
            status = response.json()["job_status"]
            if not seen or seen[-1] != status:
                seen.append(status)
        time.sleep(0.03)

    assert seen[-2:] == ["PROCESSING", "DONE"]
    assert set(seen) <= {"CREATED", "PROCESSING", "DONE"}


def test_done_job_links_to_a_gzip_csv_with_one_row_per_url_up_to_the_depth(api, server):
    job = wait_done(api, api.post("/v1/jobs", json=export_body(
        "demo-org", "small-site", SLUG, depth=3)).json()["job_url"])

    url = job["results"]["download_url"]
    download = httpx.get(url)
    rows = read_csv(gzip.decompress(download.content).decode())
    assert job["job_status"] == "DONE" and url.startswith("http://localhost:")
    assert download.headers["content-length"] == str(len(download.content))
    assert rows[0] == ["Full URL", "Title", "Meta Description", "metadata-h1-contents"]
    assert len(rows) - 1 == job["results"]["nb_lines"] == cumulative(3)
    urls = [row[0] for row in rows[1:]]
    assert len(set(urls)) == len(urls)
    assert all(url.startswith("https://www.small-site.example/") for url in urls)
    assert all(isinstance(json.loads(row[3]), list) for row in rows[1:])


def test_export_lists_only_the_chosen_fields(api):
    body = export_body("demo-org", "small-site", SLUG, depth=1, fields=("url", FIELDS[3]))
    job = wait_done(api, api.post("/v1/jobs", json=body).json()["job_url"])

    rows = read_csv(gzip.decompress(httpx.get(job["results"]["download_url"]).content).decode())

    assert rows[0] == ["Full URL", "metadata-h1-contents"]
    assert len(rows) - 1 == cumulative(1)


@pytest.mark.parametrize("extra_config", [{"filetype": "zip"}, {"compression": "zip"}])
def test_zip_export_holds_one_csv(api, extra_config):
    body = export_body("demo-org", "small-site", SLUG, depth=2, extra_config=extra_config)
    job = wait_done(api, api.post("/v1/jobs", json=body).json()["job_url"])

    content = httpx.get(job["results"]["download_url"]).content
    archive = zipfile.ZipFile(io.BytesIO(content))
    (name,) = archive.namelist()

    assert content[:4] == b"PK\x03\x04" and name.endswith(".csv")
    assert len(read_csv(archive.read(name).decode())) - 1 == cumulative(2)


def test_job_created_under_fail_jobs_ends_failed_with_a_reason(api, sim):
    sim.post("/_sim/faults", json={"fail_jobs": True})

    job = wait_done(api, api.post("/v1/jobs", json=export_body(
        "demo-org", "small-site", SLUG)).json()["job_url"])

    assert job["job_status"] == "FAILED" and job["results"] is None
    assert job["error"]["message"]


def test_jobs_survive_a_simulator_restart():
    from pipulate.sim import create_app
    from tests.support import ThreadServer

    headers = {"Authorization": "Token t"}
    with ThreadServer(create_app(job_seconds=0.2)) as first:
        job = httpx.post(first.url + "/v1/jobs", headers=headers,
                         json=export_body("demo-org", "small-site", SLUG)).json()
    time.sleep(0.2)
    with ThreadServer(create_app(job_seconds=0.2)) as second:
        again = httpx.get(second.url + job["job_url"], headers=headers).json()

    assert again["job_status"] == "DONE"
    assert again["payload"]["query"] == job["payload"]["query"]


def test_unknown_job_is_404(api):
    assert api.get("/v1/jobs/not-a-job").status_code == 404


@pytest.mark.parametrize(("change", "status", "code"), [
    (lambda b: b["payload"].pop("query"), 400, "1020"),
    (lambda b: b["payload"].pop("username"), 400, "1020"),
    (lambda b: b["payload"]["query"]["query"].pop("metrics"), 400, "1020"),
    (lambda b: b["payload"]["query"]["query"].update(
        filter=b["payload"]["query"]["query"].pop("filters")), 400, "1020"),
    (lambda b: b["payload"]["query"]["query"]["filters"].update(value="3"), 400, "1020"),
    (lambda b: b["payload"]["query"]["query"]["dimensions"].append(
        f"crawl.{SLUG}.nonsense"), 400, "1029"),
    (lambda b: b["payload"].update(export_size=2_000_000), 400, "1043"),
    (lambda b: b["payload"].update(project="no-such-site"), 404, "1010"),
    (lambda b: b["payload"]["query"].update(collections=["crawl.19990101"]), 404, "1004"),
])
def test_malformed_export_payloads_are_refused(api, sim, change, status, code):
    sim.post("/_sim/faults", json={"rate_limit": False})
    body = export_body("demo-org", "small-site", SLUG)
    change(body)

    response = api.post("/v1/jobs", json=body)

    assert (response.status_code, response.json()["error"]["error_code"]) == (status, code)


def test_unfinished_analysis_cannot_be_exported(api):
    slug = next(item["slug"] for item in data.analyses("demo-org", "empty-site"))

    response = api.post("/v1/jobs", json=export_body("demo-org", "empty-site", slug))

    assert (response.status_code, response.json()["error"]["error_code"]) == (404, "1004")
