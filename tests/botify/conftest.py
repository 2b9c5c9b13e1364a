"""Fixtures shared by the client and download tests."""

import uuid

import httpx
import pytest

from pipulate.botify import BotifyClient
from pipulate.sim import create_app
from tests.support import ThreadServer

# httpx clients built by the mock-transport tests, closed after each test.
OPEN: list[httpx.AsyncClient] = []


@pytest.fixture(autouse=True)
async def close_shared_clients():
    yield
    while OPEN:
        await OPEN.pop().aclose()


@pytest.fixture(scope="module")
def sim():
    with ThreadServer(create_app(job_seconds=0.3)) as server:
        yield server.url


@pytest.fixture
def token():
    # A fresh token per test keeps the simulator's per-token rate limit from leaking across.
    return f"tok-{uuid.uuid4().hex}"


@pytest.fixture
async def botify(sim, token):
    httpx.post(f"{sim}/_sim/reset")
    async with BotifyClient(token, f"{sim}/v1", backoff=0.05) as instance:
        yield instance
