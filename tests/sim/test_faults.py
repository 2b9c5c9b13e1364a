import time

import httpx

from tests.sim.helpers import count_query, newest_success


def test_rate_limit_answers_429_with_code_1053_above_five_per_second(api):
    answers = [api.get("/v1/authentication/profile") for _ in range(7)]

    limited = [answer for answer in answers if answer.status_code == 429]
    assert [answer.status_code for answer in answers[:5]] == [200] * 5
    assert limited and limited[0].json()["error"]["error_code"] == "1053"
    assert limited[0].headers["retry-after"] == "1"


def test_rate_limit_counts_each_operation_apart(api):
    for _ in range(5):
        api.get("/v1/authentication/profile")

    assert api.get("/v1/analyses/demo-org/small-site/light").status_code == 200


def test_rate_limit_lets_requests_in_again_after_a_second(api):
    for _ in range(6):
        api.get("/v1/authentication/profile")
    time.sleep(1.0)

    assert api.get("/v1/authentication/profile").status_code == 200


def test_rate_limit_can_drop_retry_after_or_be_switched_off(api, sim):
    sim.post("/_sim/faults", json={"retry_after": False})
    answers = [api.get("/v1/authentication/profile") for _ in range(6)]
    assert answers[-1].status_code == 429 and "retry-after" not in answers[-1].headers

    sim.post("/_sim/faults", json={"rate_limit": False})
    assert api.get("/v1/authentication/profile").status_code == 200


def test_error_burst_fails_the_next_n_api_requests(api, sim):
    sim.post("/_sim/faults", json={"error_burst": 2})

    answers = [api.get("/v1/authentication/profile") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [503, 503, 200]
    assert answers[0].json()["error"]["error_code"]


def test_slow_seconds_delays_api_answers(api, sim):
    sim.post("/_sim/faults", json={"slow_seconds": 0.3})

    started = time.monotonic()
    api.get("/v1/authentication/profile")

    assert time.monotonic() - started >= 0.3


def test_revoked_token_answers_401_code_1001(api, sim):
    assert api.get("/v1/authentication/profile").status_code == 200
    sim.post("/_sim/faults", json={"revoked": True})

    response = api.get("/v1/authentication/profile")

    assert (response.status_code, response.json()["error"]["error_code"]) == (401, "1001")


def test_null_depth_row_adds_a_row_clients_must_skip(api, sim):
    sim.post("/_sim/faults", json={"null_depth_row": True})
    slug = newest_success("demo-org", "small-site")

    rows = api.post("/v1/projects/demo-org/small-site/query", json=count_query(slug)).json()

    assert rows["results"][-1]["dimensions"] == [None]


def test_faults_merge_and_reset_restores_defaults(sim):
    sim.post("/_sim/faults", json={"fail_jobs": True})
    merged = sim.post("/_sim/faults", json={"slow_seconds": 0.1}).json()
    reset = sim.post("/_sim/reset").json()

    assert merged["fail_jobs"] is True and merged["slow_seconds"] == 0.1
    assert reset["fail_jobs"] is False and reset["rate_limit"] is True


def test_unknown_fault_is_refused(sim):
    response = sim.post("/_sim/faults", json={"explode": True})

    assert response.status_code == 400
    assert "explode" in response.json()["error"]["message"]


def test_reset_clears_the_log(api, sim):
    api.get("/v1/authentication/profile")
    sim.post("/_sim/reset")

    assert sim.get("/_sim/log").json() == []


def test_control_api_needs_no_token(server):
    assert httpx.get(server.url + "/_sim/faults").status_code == 200
