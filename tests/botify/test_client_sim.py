"""BotifyClient against the simulator, served by uvicorn on a free loopback port."""

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from pipulate.botify import (
    AuthenticationError,
    BotifyClient,
    NotFoundError,
    RateLimitedError,
    ServerError,
    client,
)
from pipulate.sim import create_app, data
from tests.support import ThreadServer, free_port

SMALL = ("demo-org", "small-site")
BIG = ("demo-org", "big-site")


def set_faults(sim: str, **faults) -> None:
    httpx.post(f"{sim}/_sim/faults", json=faults).raise_for_status()


def sim_log(sim: str) -> list[dict]:
    return httpx.get(f"{sim}/_sim/log").json()


def newest_success(org: str, project: str) -> str:
    return next(a["slug"] for a in data.analyses(org, project) if a["status"] == "success")


async def finished(botify: BotifyClient, job):
    # Polling under the simulator's 5 requests per second, so no poll waits out a 429.
    while (job := await botify.job(job.job_url)).is_pending:
        await asyncio.sleep(0.21)
    return job


async def test_profile_names_the_simulated_user(botify):
    assert (await botify.profile()).username == data.USERNAME


async def test_analyses_lists_every_success_across_pages_newest_first(
    sim, botify, monkeypatch
):
    monkeypatch.setattr(client, "ANALYSES_PAGE_SIZE", 10)
    found = await botify.analyses(*SMALL)

    expected = [a["slug"] for a in data.analyses(*SMALL) if a["status"] == "success"]
    assert [a.slug for a in found] == expected
    assert len(expected) > 30 and all(a.is_success for a in found)
    pages = [e for e in sim_log(sim) if e["operation"] == "analyses_light"]
    assert len(pages) == 4 and all(e["status"] == 200 for e in pages)


async def test_a_project_without_finished_analyses_lists_none(botify):
    assert await botify.analyses("demo-org", "empty-site") == []


async def test_an_unknown_project_is_not_found_with_botifys_code(botify):
    with pytest.raises(NotFoundError) as caught:
        await botify.analyses("demo-org", "no-such-site")
    assert caught.value.error_code == "1010" and "error 1010" in str(caught.value)


async def test_a_forbidden_project_is_an_authentication_error(botify):
    with pytest.raises(AuthenticationError) as caught:
        await botify.analyses("acme-org", "secret-site")
    assert caught.value.error_code == "1002"


async def test_depth_counts_match_the_crawl_across_query_pages(sim, botify, monkeypatch):
    monkeypatch.setattr(client, "QUERY_PAGE_SIZE", 3)
    set_faults(sim, null_depth_row=True)
    slug = newest_success(*BIG)

    counts = await botify.depth_counts(*BIG, slug)

    assert counts == data.depth_counts(*BIG, slug)
    queries = [e for e in sim_log(sim) if e["operation"] == "query"]
    assert len(queries) == 4


async def test_depth_counts_of_an_unfinished_analysis_are_not_found(botify):
    unfinished = next(a["slug"] for a in data.analyses(*SMALL) if a["status"] != "success")
    with pytest.raises(NotFoundError) as caught:
        await botify.depth_counts(*SMALL, unfinished)
    assert caught.value.error_code == "1004"


@pytest.mark.parametrize("compression", ["gzip", "zip"])
async def test_an_export_runs_from_job_to_csv_on_disk(botify, tmp_path, compression):
    slug = newest_success(*SMALL)
    counts = data.depth_counts(*SMALL, slug)

    job = await botify.create_export(
        *SMALL, slug, max_depth=3, fields=["title", "h1"], compression=compression
    )
    assert job.status == "CREATED" and job.is_pending
    job = await finished(botify, job)
    assert job.is_done and job.rows == sum(counts[d] for d in range(4))

    saved = await botify.download(job.download_url, tmp_path / "small.csv")
    lines = saved.path.read_text(encoding="utf-8").splitlines()
    assert saved.rows == job.rows == len(lines) - 2
    assert lines[:2] == ["sep=,", "Full URL,Title,metadata-h1-contents"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.csv"]


async def test_job_status_accepts_a_bare_id(botify):
    job = await botify.create_export(*SMALL, newest_success(*SMALL), max_depth=1, fields=[])
    assert (await botify.job(job.job_id)).job_id == job.job_id


async def test_job_urls_resolve_when_the_simulator_is_mounted_under_a_prefix(token, tmp_path):
    app = Starlette(routes=[Mount("/sim", app=create_app(job_seconds=0.2))])
    with ThreadServer(app) as server:
        async with BotifyClient(token, f"{server.url}/sim/v1") as botify:
            job = await botify.create_export(
                *SMALL, newest_success(*SMALL), max_depth=1, fields=[]
            )
            assert job.job_url.startswith("/sim/v1/jobs/")
            job = await finished(botify, job)
            saved = await botify.download(job.download_url, tmp_path / "mounted.csv")
    assert saved.rows == job.rows


async def test_a_429_burst_is_waited_out_and_every_call_succeeds(sim, botify):
    results = await asyncio.gather(*(botify.profile() for _ in range(8)))

    assert {p.username for p in results} == {data.USERNAME}
    statuses = [e["status"] for e in sim_log(sim) if e["operation"] == "profile"]
    assert statuses.count(429) >= 3 and statuses.count(200) == 8


async def test_a_429_burst_past_the_attempt_limit_raises_rate_limited(sim, token):
    httpx.post(f"{sim}/_sim/reset")
    async with BotifyClient(token, f"{sim}/v1", max_attempts=1) as botify:
        results = await asyncio.gather(
            *(botify.profile() for _ in range(8)), return_exceptions=True
        )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 3
    assert all(isinstance(r, RateLimitedError) and r.error_code == "1053" for r in refused)


async def test_a_5xx_burst_on_reads_is_retried(sim, botify):
    set_faults(sim, error_burst=2)
    assert await botify.analyses("demo-org", "empty-site") == []
    statuses = [e["status"] for e in sim_log(sim)]
    assert statuses == [503, 503, 200]


async def test_a_5xx_burst_past_the_attempt_limit_raises_server_error(sim, token):
    httpx.post(f"{sim}/_sim/reset")
    set_faults(sim, error_burst=5)
    async with BotifyClient(token, f"{sim}/v1", max_attempts=3, backoff=0.01) as botify:
        with pytest.raises(ServerError, match="after 3 attempts") as caught:
            await botify.profile()
    assert caught.value.status == 503 and caught.value.error_code == "5003"


async def test_a_5xx_on_create_is_not_retried_and_warns_the_job_may_exist(sim, botify):
    set_faults(sim, error_burst=1)
    with pytest.raises(ServerError, match="may or may not exist"):
        await botify.create_export(*SMALL, newest_success(*SMALL), max_depth=1, fields=[])
    creates = [e for e in sim_log(sim) if e["method"] == "POST"]
    assert len(creates) == 1


async def test_a_slow_answer_past_the_read_timeout_is_a_server_error(sim, token):
    httpx.post(f"{sim}/_sim/reset")
    set_faults(sim, slow_seconds=1.0)
    async with BotifyClient(token, f"{sim}/v1", timeout=httpx.Timeout(0.2)) as botify:
        with pytest.raises(ServerError, match="did not answer in time"):
            await botify.profile()
    set_faults(sim, slow_seconds=0)


async def test_an_unreachable_api_is_a_server_error(token):
    base = f"http://127.0.0.1:{free_port()}/v1"
    async with BotifyClient(token, base, max_attempts=2, backoff=0.01) as botify:
        with pytest.raises(ServerError, match="Could not reach Botify"):
            await botify.profile()


async def test_a_failed_job_says_so(sim, botify):
    set_faults(sim, fail_jobs=True)
    job = await botify.create_export(*SMALL, newest_success(*SMALL), max_depth=1, fields=[])
    job = await finished(botify, job)
    assert job.is_failed and not job.is_done
    assert "failed on Botify's side" in job.failure_reason


async def test_a_token_revoked_mid_job_raises_authentication_error(sim, botify, token):
    job = await botify.create_export(*SMALL, newest_success(*SMALL), max_depth=1, fields=[])
    set_faults(sim, revoked=True)
    with pytest.raises(AuthenticationError) as caught:
        await botify.job(job.job_url)
    assert caught.value.error_code == "1001" and caught.value.status == 401
    assert token not in str(caught.value)


async def test_a_wrong_token_is_refused(token):
    with ThreadServer(create_app(token="the-right-one")) as server:
        async with BotifyClient(token, f"{server.url}/v1") as botify:
            with pytest.raises(AuthenticationError, match="error 1001"):
                await botify.profile()
