"""The export service against the simulator: one job per export, retries that fit the failure."""

import asyncio

import httpx
import pytest

from pipulate.botify.exports import ExportService
from pipulate.botify.registry import ExportEntry, ExportRegistry

SMALL = ("demo-org", "small-site", "20250406")


@pytest.fixture
def service(botify, tmp_path):
    registry = ExportRegistry(tmp_path / "export_registry.json")
    exports = ExportService(botify, registry, tmp_path, poll_seconds=0.1)
    yield exports


async def finished(service, entry_id, timeout=20.0):
    async with asyncio.timeout(timeout):
        while (entry := service.registry.get(entry_id)).is_in_flight:
            await asyncio.sleep(0.05)
    return entry


def job_posts(sim):
    """Jobs the simulator created (a refused POST creates none)."""
    log = httpx.get(f"{sim}/_sim/log").json()
    return [r for r in log if r["method"] == "POST" and r["path"] == "/v1/jobs"
            and r["status"] == 201]


async def test_an_export_is_created_once_followed_and_downloaded(service, sim):
    first, second = await asyncio.gather(
        service.start(*SMALL, 2, ["title"]), service.start(*SMALL, 2, ["title"]))
    assert first.id == second.id
    entry = await finished(service, first.id)
    await service.close()

    assert entry.status == "DOWNLOADED" and entry.failure is None
    assert service.file_path(entry).is_file() and entry.rows > 0
    assert len(job_posts(sim)) == 1


async def test_a_job_botify_no_longer_knows_fails_so_that_a_retry_starts_a_new_job(
        service, sim):
    lost = ExportEntry(org=SMALL[0], project=SMALL[1], analysis=SMALL[2], depth=1,
                       fields=["h1"], job_id="gone", job_url="/v1/jobs/gone")
    service.registry.add(lost)
    service.resume()
    entry = await finished(service, lost.id)
    assert (entry.status, entry.failure) == ("FAILED", "job")
    assert "no longer knows this job" in entry.error

    again = await service.retry(entry)
    assert again.id != entry.id
    assert (await finished(service, again.id)).status == "DOWNLOADED"
    await service.close()
    assert len(job_posts(sim)) == 1


async def test_a_failed_status_check_is_retried_on_the_same_job(service, sim):
    httpx.post(f"{sim}/_sim/faults", json={"revoked": True})
    entry = await service.start(*SMALL, 1, [])
    assert entry.status == "FAILED" and entry.failure == "job"
    httpx.post(f"{sim}/_sim/faults", json={"revoked": False})

    entry = await service.start(*SMALL, 1, [])
    httpx.post(f"{sim}/_sim/faults", json={"revoked": True})
    entry = await finished(service, entry.id)
    assert (entry.status, entry.failure) == ("FAILED", "status")
    assert "botify_token.txt" in entry.error

    httpx.post(f"{sim}/_sim/faults", json={"revoked": False})
    again = await service.retry(entry)
    assert again.id == entry.id
    assert (await finished(service, entry.id)).status == "DOWNLOADED"
    await service.close()
    assert len(job_posts(sim)) == 1


async def test_an_entry_whose_job_was_never_confirmed_is_failed_not_guessed(service):
    orphan = ExportEntry(org=SMALL[0], project=SMALL[1], analysis=SMALL[2], depth=1,
                         fields=["title"])
    service.registry.add(orphan)
    service.resume()
    entry = await finished(service, orphan.id)
    await service.close()
    assert (entry.status, entry.failure) == ("FAILED", "job")
    assert "may have created it anyway" in entry.error
