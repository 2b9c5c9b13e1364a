import contextlib
import gzip

import httpx
import pytest

from pipulate.sim import create_app
from tests.sim.helpers import export_body, newest_success, wait_done
from tests.support import ThreadServer

SLUG = newest_success("demo-org", "small-site")


@pytest.fixture(scope="module")
def url(server) -> str:
    """The download link of one finished job, shared by the tests of this module."""
    with httpx.Client(base_url=server.url, headers={"Authorization": "Token test-token"}) as api:
        body = export_body("demo-org", "small-site", SLUG, depth=4)
        job = wait_done(api, api.post("/v1/jobs", json=body).json()["job_url"])
    return job["results"]["download_url"]


def test_download_host_is_the_other_loopback_name(url, server):

    assert httpx.URL(url).host == "localhost"
    assert httpx.URL(url).port == server.port


def test_storage_refuses_an_authorization_header(url, sim):

    response = httpx.get(url, headers={"Authorization": "Token test-token"})

    assert response.status_code == 400
    log = sim.get("/_sim/log").json()
    assert log[-1]["operation"] == "download"
    assert log[-1]["authorization"] == "Token test-token"


def test_log_records_the_token_only_on_api_requests(url, api, sim):
    api.get("/v1/authentication/profile").raise_for_status()
    httpx.get(url).raise_for_status()

    log = sim.get("/_sim/log").json()
    assert [entry["operation"] for entry in log] == ["profile", "download"]
    assert log[0]["authorization"] == "Token test-token"
    assert log[1]["authorization"] is None
    assert log[1]["host"].startswith("localhost:") and log[1]["status"] == 200
    assert log[1]["query"].startswith("expires=")


def test_tampered_link_is_403(url):

    response = httpx.get(url.replace("signature=", "signature=0"))

    assert response.status_code == 403


def test_expired_download_is_403(url, sim):
    sim.post("/_sim/faults", json={"expire_downloads": True})

    assert httpx.get(url).status_code == 403


def test_truncated_download_breaks_off_before_content_length(url, sim):
    sim.post("/_sim/faults", json={"truncate_downloads": True})

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)


def test_redirected_download_ends_at_the_file(url, sim):
    sim.post("/_sim/faults", json={"redirect_downloads": True})

    first = httpx.get(url)
    final = httpx.get(url, follow_redirects=True)

    assert first.status_code == 302
    assert "/storage/redirected/" in first.headers["location"]
    assert final.status_code == 200 and gzip.decompress(final.content).startswith(b"sep=,")


def test_download_before_the_job_is_done_is_404(api, server):
    job = api.post("/v1/jobs", json=export_body("demo-org", "small-site", SLUG)).json()
    early = f"http://localhost:{server.port}/storage/collection_exports/{job['job_id']}/x.csv.gz"

    assert httpx.get(early).status_code == 404


def test_mounted_simulator_keeps_its_prefix_in_every_link():
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/sim", create_app(job_seconds=0.1))])
    with ThreadServer(outer) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": "Token t"}) as api:
        page = api.get("/sim/v1/analyses/demo-org/small-site/light").json()
        job = api.post("/sim/v1/jobs", json=export_body("demo-org", "small-site", SLUG)).json()
        done = wait_done(api, job["job_url"])
        with contextlib.closing(httpx.Client()) as storage:
            download = storage.get(done["results"]["download_url"])

    assert page["next"].startswith(server.url + "/sim/v1/analyses/")
    assert job["job_url"].startswith("/sim/v1/jobs/")
    storage_root = f"http://localhost:{server.port}/sim/storage/"
    assert done["results"]["download_url"].startswith(storage_root)
    assert download.status_code == 200


def test_storage_base_overrides_the_download_origin(server):
    with ThreadServer(create_app(job_seconds=0.1, storage_base="http://127.0.0.1:9/files")) as sim:
        api = httpx.Client(base_url=sim.url, headers={"Authorization": "Token t"})
        job = api.post("/v1/jobs", json=export_body("demo-org", "small-site", SLUG)).json()
        url = wait_done(api, job["job_url"])["results"]["download_url"]
        api.close()

    assert url.startswith("http://127.0.0.1:9/files/storage/collection_exports/")
