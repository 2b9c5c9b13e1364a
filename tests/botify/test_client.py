"""BotifyClient against httpx.MockTransport: requests sent, answers read, errors raised."""

import json
import logging
import time

import httpx
import pytest

from pipulate.botify import (
    AuthenticationError,
    BadResponseError,
    BotifyClient,
    BotifyError,
    JobFailedError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from tests.botify.conftest import OPEN

TOKEN = "tok-secret-123"
BASE = "https://api.test/v1"


class Recorder:
    """A MockTransport handler that answers from a list and remembers every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def client_for(handler, **options) -> BotifyClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    OPEN.append(http)
    options.setdefault("backoff", 0.001)
    return BotifyClient(TOKEN, BASE, http=http, **options)


def ok(body, status=200, **headers):
    return httpx.Response(status, json=body, headers=headers)


def botify_error(status, code, message, **headers):
    body = {"error": {"error_code": code, "message": message, "error_detail": {}}}
    return httpx.Response(status, json=body, headers=headers)


def analysis(slug, status="success", finished="2025-04-13T10:00:00Z"):
    return {"slug": slug, "name": slug, "status": status, "date_finished": finished,
            "extra_key": {"ignored": True}}


async def test_profile_sends_the_token_in_the_authorization_header_only():
    recorder = Recorder(ok({"data": {"username": "jane", "email": "j@x.test"}}))
    async with client_for(recorder) as botify:
        profile = await botify.profile()

    assert profile.username == "jane"
    request = recorder.requests[0]
    assert str(request.url) == f"{BASE}/authentication/profile"
    assert request.headers["Authorization"] == f"Token {TOKEN}"
    assert TOKEN not in str(request.url)


async def test_repr_and_token_checks_never_show_the_token():
    async with BotifyClient(TOKEN, BASE) as botify:
        assert repr(botify) == f"BotifyClient(base_url='{BASE}')"
    with pytest.raises(ValueError, match="empty") as caught:
        BotifyClient("tok with space", BASE)
    assert "tok with space" not in str(caught.value)
    with pytest.raises(ValueError, match="not an http"):
        BotifyClient(TOKEN, "api.botify.com/v1")


async def test_analyses_follow_next_across_pages_keep_success_and_sort_newest_first():
    pages = {
        "1": {"count": 5, "next": f"{BASE}/analyses/org/site/light?page=2&size=2",
              "results": [analysis("20250101"), analysis("20250413", status="crawling")]},
        "2": {"count": 5, "next": f"{BASE}/analyses/org/site/light?page=3&size=2",
              "results": [analysis("20250301-2", finished="2025-03-01T20:00:00Z"),
                          analysis("20250301", finished="2025-03-01T09:00:00Z")]},
        "3": {"count": 5, "next": None, "results": [analysis("20250201")]},
    }
    recorder = Recorder(lambda request: ok(pages[request.url.params["page"]]))
    async with client_for(recorder) as botify:
        found = await botify.analyses("org", "site")

    assert [a.slug for a in found] == ["20250301-2", "20250301", "20250201", "20250101"]
    assert len(recorder.requests) == 3
    first = recorder.requests[0].url
    assert first.path == "/v1/analyses/org/site/light"
    assert first.params["only_success"] == "true"
    assert all(r.headers["Authorization"] == f"Token {TOKEN}" for r in recorder.requests)


async def test_analyses_refuse_a_next_link_that_leaves_the_api_without_sending_the_token():
    recorder = Recorder(
        ok({"next": "https://evil.test/v1/analyses/org/site/light?page=2", "results": []})
    )
    async with client_for(recorder) as botify:
        with pytest.raises(BadResponseError, match="leads off the API"):
            await botify.analyses("org", "site")
    assert [r.url.host for r in recorder.requests] == ["api.test"]


async def test_analyses_stop_when_next_links_loop():
    loop = ok({"next": f"{BASE}/analyses/org/site/light?page=1&size=100&only_success=true",
               "results": [analysis("20250101")]})
    async with client_for(Recorder(loop)) as botify:
        with pytest.raises(BadResponseError, match="loop"):
            await botify.analyses("org", "site")


async def test_an_analysis_without_a_slug_is_a_bad_response_naming_the_key():
    recorder = Recorder(ok({"next": None, "results": [{"name": "no slug", "status": "success"}]}))
    async with client_for(recorder) as botify:
        with pytest.raises(BadResponseError, match="'slug'"):
            await botify.analyses("org", "site")


async def test_a_page_without_results_is_a_bad_response_naming_the_key():
    async with client_for(Recorder(ok({"count": 0, "next": None}))) as botify:
        with pytest.raises(BadResponseError, match="'results'"):
            await botify.analyses("org", "site")


async def test_depth_counts_page_through_the_bql_query_and_skip_non_integer_depths():
    second = f"{BASE}/projects/org/site/query?size=500&page=2"
    recorder = Recorder(
        ok({"next": second, "results": [
            {"dimensions": [0], "metrics": [1]},
            {"dimensions": [1], "metrics": [550]},
            {"dimensions": [None], "metrics": [3]},
            {"dimensions": ["n/a"], "metrics": [4]},
        ]}),
        ok({"next": None, "results": [
            {"dimensions": [2], "metrics": [7000]},
            {"dimensions": [2.5], "metrics": [5]},
        ]}),
    )
    async with client_for(recorder) as botify:
        counts = await botify.depth_counts("org", "site", "20250413")

    assert counts == {0: 1, 1: 550, 2: 7000}
    first, then = recorder.requests
    assert first.method == then.method == "POST"
    assert first.url.path == "/v1/projects/org/site/query"
    assert json.loads(first.content) == json.loads(then.content) == {
        "collections": ["crawl.20250413"],
        "query": {
            "dimensions": ["crawl.20250413.depth"],
            "metrics": ["crawl.20250413.count_urls_crawl"],
            "sort": [{"index": 0, "type": "dimensions", "order": "asc"}],
        },
    }
    assert str(then.url) == second


async def test_depth_counts_reject_a_count_that_is_not_a_whole_number():
    recorder = Recorder(ok({"next": None, "results": [{"dimensions": [1], "metrics": ["many"]}]}))
    async with client_for(recorder) as botify:
        with pytest.raises(BadResponseError, match="'many'"):
            await botify.depth_counts("org", "site", "20250413")


async def test_the_bql_query_is_a_read_and_is_retried_on_429():
    recorder = Recorder(
        botify_error(429, "1053", "Too many requests"),
        ok({"next": None, "results": [{"dimensions": [0], "metrics": [1]}]}),
    )
    async with client_for(recorder) as botify:
        assert await botify.depth_counts("org", "site", "20250413") == {0: 1}
    assert len(recorder.requests) == 2


def job_answer(status="CREATED", job_id="abc", results=None, **extra):
    return {"job_id": job_id, "job_type": "export", "job_url": f"/v1/jobs/{job_id}",
            "job_status": status, "payload": {}, "results": results,
            "date_created": "2025-04-21T10:00:00Z", **extra}


async def test_create_export_posts_the_contract_body_with_an_integer_depth():
    recorder = Recorder(ok(job_answer(job_id=42), status=201))
    async with client_for(recorder) as botify:
        job = await botify.create_export(
            "org", "site", "20250413", max_depth=3, fields=["h1", "title"]
        )

    assert job.job_id == "42" and job.job_url == "/v1/jobs/42" and job.is_pending
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/jobs")
    slug = "crawl.20250413"
    assert json.loads(request.content) == {
        "job_type": "export",
        "payload": {
            "username": "org",
            "project": "site",
            "connector": "direct_download",
            "formatter": "csv",
            "export_size": 1000000,
            "formatter_config": {"print_header": True},
            "query": {
                "collections": [slug],
                "query": {
                    "dimensions": [f"{slug}.url", f"{slug}.metadata.title.content",
                                   f"{slug}.metadata.h1.contents"],
                    "metrics": [],
                    "sort": [{"index": 0, "type": "dimensions", "order": "asc"}],
                    "filters": {"field": f"{slug}.depth", "predicate": "lte", "value": 3},
                },
            },
        },
    }


async def test_create_export_asks_for_zip_through_extra_config():
    recorder = Recorder(ok(job_answer()))
    async with client_for(recorder) as botify:
        await botify.create_export(
            "org", "site", "20250413", max_depth=0, fields=[], compression="zip"
        )
    body = json.loads(recorder.requests[0].content)
    assert body["payload"]["extra_config"] == {"filetype": "zip"}
    assert body["payload"]["query"]["query"]["dimensions"] == ["crawl.20250413.url"]


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"max_depth": "3", "fields": []}, "'3'"),
        ({"max_depth": True, "fields": []}, "True"),
        ({"max_depth": -1, "fields": []}, "-1"),
        ({"max_depth": 2, "fields": ["title", "body"]}, r"field\(s\) \['body'\]"),
        ({"max_depth": 2, "fields": "title"}, "not the string 'title'"),
        ({"max_depth": 2, "fields": [], "compression": "rar"}, "'rar'"),
    ],
)
async def test_create_export_rejects_bad_arguments_before_any_request(options, complaint):
    recorder = Recorder(ok(job_answer()))
    async with client_for(recorder) as botify:
        with pytest.raises(ValueError, match=complaint):
            await botify.create_export("org", "site", "20250413", **options)
    assert recorder.requests == []


@pytest.mark.parametrize(
    "failure",
    [
        botify_error(503, "5000", "Service unavailable"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
async def test_create_export_is_never_retried_and_says_the_job_may_exist(failure):
    recorder = Recorder(failure, ok(job_answer()))
    async with client_for(recorder) as botify:
        with pytest.raises(ServerError, match="may or may not exist"):
            await botify.create_export("org", "site", "20250413", max_depth=1, fields=[])
    assert len(recorder.requests) == 1


async def test_create_export_that_cannot_connect_says_no_job_was_created():
    recorder = Recorder(httpx.ConnectError("refused"))
    async with client_for(recorder) as botify:
        with pytest.raises(ServerError, match="No job was created"):
            await botify.create_export("org", "site", "20250413", max_depth=1, fields=[])
    assert len(recorder.requests) == 1


async def test_create_export_refused_with_429_is_not_retried():
    recorder = Recorder(botify_error(429, "1053", "Too many requests"), ok(job_answer()))
    async with client_for(recorder) as botify:
        with pytest.raises(RateLimitedError, match="1053"):
            await botify.create_export("org", "site", "20250413", max_depth=1, fields=[])
    assert len(recorder.requests) == 1


async def test_job_status_resolves_a_relative_job_url_against_the_api_origin():
    recorder = Recorder(lambda request: ok(job_answer("PROCESSING")))
    async with client_for(recorder) as botify:
        await botify.job("/v1/jobs/abc")
        await botify.job("abc")
        await botify.job(42)
        await botify.job(f"{BASE}/jobs/abc")
    assert [str(r.url) for r in recorder.requests] == [
        f"{BASE}/jobs/abc", f"{BASE}/jobs/abc", f"{BASE}/jobs/42", f"{BASE}/jobs/abc",
    ]


async def test_job_status_refuses_an_absolute_url_on_another_host():
    recorder = Recorder(ok(job_answer()))
    async with client_for(recorder) as botify:
        with pytest.raises(ValueError, match="not on the API"):
            await botify.job("https://elsewhere.test/v1/jobs/abc")
    assert recorder.requests == []


async def test_a_done_job_exposes_its_download_url_and_row_count():
    results = {"download_url": "https://storage.test/x.csv.gz", "nb_lines": 12}
    async with client_for(Recorder(ok(job_answer("DONE", results=results)))) as botify:
        job = await botify.job("abc")
    assert job.is_done and not job.is_pending and not job.is_failed
    assert (job.download_url, job.rows) == ("https://storage.test/x.csv.gz", 12)


async def test_a_done_job_without_a_download_url_counts_as_failed():
    async with client_for(Recorder(ok(job_answer("DONE", results={})))) as botify:
        job = await botify.job("abc")
    assert job.is_failed and not job.is_done
    assert "no download link" in job.failure_reason


async def test_a_failed_job_reports_what_botify_said():
    answer = job_answer("FAILED", error={"message": "Query too big"})
    async with client_for(Recorder(ok(answer))) as botify:
        job = await botify.job("abc")
    assert job.is_failed and not job.is_pending
    assert "Query too big" in job.failure_reason


async def test_a_job_answer_without_job_status_names_the_missing_key():
    answer = job_answer()
    del answer["job_status"]
    async with client_for(Recorder(ok(answer))) as botify:
        with pytest.raises(BadResponseError, match="'job_status'"):
            await botify.job("abc")


async def test_reads_retry_429_honouring_retry_after_then_succeed():
    recorder = Recorder(
        botify_error(429, "1053", "Too many requests", **{"Retry-After": "0.2"}),
        ok({"data": {"username": "jane"}}),
    )
    started = time.monotonic()
    async with client_for(recorder, backoff=10.0) as botify:
        assert (await botify.profile()).username == "jane"
    assert 0.2 <= time.monotonic() - started < 2
    assert len(recorder.requests) == 2


async def test_retry_after_is_capped_by_max_backoff():
    recorder = Recorder(
        botify_error(429, "1053", "Too many requests", **{"Retry-After": "3600"}),
        ok({"data": {"username": "jane"}}),
    )
    started = time.monotonic()
    async with client_for(recorder, max_backoff=0.05) as botify:
        await botify.profile()
    assert time.monotonic() - started < 1


async def test_reads_give_up_after_max_attempts_with_the_last_error():
    recorder = Recorder(botify_error(429, "1053", "Too many requests"))
    async with client_for(recorder, max_attempts=3) as botify:
        with pytest.raises(RateLimitedError) as caught:
            await botify.analyses("org", "site")
    assert len(recorder.requests) == 3
    assert caught.value.error_code == "1053" and caught.value.status == 429
    assert "error 1053: Too many requests" in str(caught.value)
    assert "after 3 attempts" in str(caught.value)


async def test_a_5xx_burst_on_a_read_is_retried():
    recorder = Recorder(httpx.Response(502), httpx.Response(500), ok(job_answer()))
    async with client_for(recorder) as botify:
        assert (await botify.job("abc")).job_id == "abc"
    assert len(recorder.requests) == 3


async def test_a_read_that_cannot_connect_is_retried_then_reported_as_unreachable():
    recorder = Recorder(httpx.ConnectError("refused"))
    async with client_for(recorder, max_attempts=2) as botify:
        with pytest.raises(ServerError, match="Could not reach Botify at https://api.test"):
            await botify.profile()
    assert len(recorder.requests) == 2


async def test_a_read_timeout_is_not_retried():
    recorder = Recorder(httpx.ReadTimeout("slow"))
    async with client_for(recorder) as botify:
        with pytest.raises(ServerError, match="did not answer in time"):
            await botify.profile()
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("answer", "error", "status", "code"),
    [
        (botify_error(401, "1001", "Not authorized"), AuthenticationError, 401, "1001"),
        (botify_error(403, "1002", "Permission denied"), AuthenticationError, 403, "1002"),
        (botify_error(404, "1010", "Project not found"), NotFoundError, 404, "1010"),
        (botify_error(404, "1004", "Analysis not found"), NotFoundError, 404, "1004"),
        (botify_error(400, "1060", "The export failed"), JobFailedError, 400, "1060"),
        (botify_error(400, "1029", "Field does not exist"), BotifyError, 400, "1029"),
        (botify_error(400, 1043, "Query too big"), BotifyError, 400, "1043"),
        (httpx.Response(418, text="teapot"), BotifyError, 418, None),
    ],
)
async def test_errors_map_to_the_tree_and_quote_botifys_code(answer, error, status, code):
    async with client_for(Recorder(answer)) as botify:
        with pytest.raises(error) as caught:
            await botify.job("abc")
    assert type(caught.value) is error
    assert (caught.value.status, caught.value.error_code) == (status, code)
    if code:
        assert f"error {code}:" in str(caught.value)


async def test_an_error_message_that_echoes_the_token_is_scrubbed():
    answer = botify_error(401, "1001", f"Token {TOKEN} is not valid")
    async with client_for(Recorder(answer)) as botify:
        with pytest.raises(AuthenticationError) as caught:
            await botify.profile()
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert "[token]" in str(caught.value)


async def test_an_answer_that_is_not_json_is_a_bad_response():
    answer = httpx.Response(200, text="<html>", headers={"Content-Type": "text/html"})
    async with client_for(Recorder(answer)) as botify:
        with pytest.raises(BadResponseError, match="not JSON"):
            await botify.profile()


async def test_an_api_redirect_is_not_followed_with_the_token():
    answer = httpx.Response(302, headers={"Location": "https://elsewhere.test/"})
    recorder = Recorder(answer)
    async with client_for(recorder) as botify:
        with pytest.raises(BadResponseError, match="redirect"):
            await botify.profile()
    assert len(recorder.requests) == 1


async def test_each_call_logs_one_info_line_without_token_or_query(caplog):
    recorder = Recorder(ok({"next": None, "results": [analysis("20250101")]}))
    caplog.set_level(logging.INFO, logger="pipulate.botify.client")
    async with client_for(recorder) as botify:
        await botify.analyses("org", "site")

    lines = [r.getMessage() for r in caplog.records if r.name == "pipulate.botify.client"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /v1/analyses/org/site/light answered 200 in ")
    assert lines[0].endswith(" ms.")
    assert TOKEN not in caplog.text and "only_success" not in caplog.text


async def test_the_client_closes_only_the_http_client_it_made():
    shared = httpx.AsyncClient(transport=httpx.MockTransport(Recorder(ok({}))))
    async with BotifyClient(TOKEN, BASE, http=shared):
        pass
    assert not shared.is_closed
    await shared.aclose()

    owned = BotifyClient(TOKEN, BASE)
    await owned.aclose()
    assert owned._http.is_closed


async def test_a_short_test_token_does_not_garble_error_messages():
    http = httpx.AsyncClient(transport=httpx.MockTransport(
        Recorder(botify_error(401, "1001", "Invalid token"))
    ))
    OPEN.append(http)
    async with BotifyClient("tok", BASE, http=http) as botify:
        with pytest.raises(AuthenticationError, match="error 1001: Invalid token"):
            await botify.profile()


async def test_a_created_job_without_job_url_is_still_followed_by_its_id():
    answer = {"job_id": 7, "job_type": "export", "job_status": "CREATED", "results": None}

    def handler(request):
        if request.method == "POST":
            return httpx.Response(201, json=answer)
        assert request.url.path == "/v1/jobs/7"
        return httpx.Response(200, json={**answer, "job_status": "PROCESSING"})

    botify = client_for(handler)
    job = await botify.create_export("org", "proj", "20250101", max_depth=1, fields=[])
    assert job.job_url is None and job.ref == "7"
    assert (await botify.job(job.ref)).status == "PROCESSING"
