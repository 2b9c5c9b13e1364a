import httpx
import pytest

from pipulate.sim import create_app
from tests.support import ThreadServer

JOB_SECONDS = 0.5


@pytest.fixture(scope="module")
def server():
    with ThreadServer(create_app(job_seconds=JOB_SECONDS)) as running:
        yield running


@pytest.fixture
def sim(server):
    """A client for the control API, with faults and log reset before each test."""
    with httpx.Client(base_url=server.url, timeout=10) as control:
        control.post("/_sim/reset").raise_for_status()
        yield control


@pytest.fixture
def api(server, sim):
    with httpx.Client(base_url=server.url, headers={"Authorization": "Token test-token"},
                      timeout=10) as client:
        yield client
