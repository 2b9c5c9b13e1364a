import subprocess
import sys

import httpx

from tests.support import free_port, wait_until_up


def test_module_runs_the_simulator_with_a_token():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipulate.sim", "--port", str(port), "--token", "secret",
         "--job-seconds", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/_sim/faults", process=process)
        wrong = httpx.get(url + "/v1/authentication/profile", headers={"Authorization": "Token x"})
        right = httpx.get(url + "/v1/authentication/profile",
                          headers={"Authorization": "Token secret"})
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert wrong.status_code == 401
    assert right.status_code == 200
