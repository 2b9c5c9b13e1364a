"""Export downloads from the simulator's storage, over real sockets."""

import asyncio
import json
import sys
import textwrap

import httpx
import pytest

from pipulate.botify import BotifyClient, DownloadError
from pipulate.sim import data
from tests.support import ROOT

SMALL = ("demo-org", "small-site")
BIG = ("demo-org", "big-site")
BIG_SAFE_DEPTH = 5


def set_faults(sim: str, **faults) -> None:
    httpx.post(f"{sim}/_sim/faults", json=faults).raise_for_status()


def newest_success(org: str, project: str) -> str:
    return next(a["slug"] for a in data.analyses(org, project) if a["status"] == "success")


async def done_job(botify: BotifyClient, org: str, project: str, depth: int, fields=()):
    job = await botify.create_export(
        org, project, newest_success(org, project), max_depth=depth, fields=list(fields)
    )
    while (job := await botify.job(job.job_url)).is_pending:
        await asyncio.sleep(0.21)
    assert job.is_done
    return job


async def test_storage_never_sees_the_token_even_after_a_redirect(sim, botify, token, tmp_path):
    job = await done_job(botify, *SMALL, 2)
    set_faults(sim, redirect_downloads=True)

    saved = await botify.download(job.download_url, tmp_path / "small.csv")

    assert saved.rows == job.rows
    log = httpx.get(f"{sim}/_sim/log").json()
    api = [e for e in log if e["operation"] != "download"]
    storage = [e for e in log if e["operation"] == "download"]
    assert [e["status"] for e in storage] == [302, 200]
    assert "/storage/redirected/" in storage[1]["path"]
    assert {e["host"].split(":")[0] for e in storage} == {"localhost"}
    assert {e["host"].split(":")[0] for e in api} == {"127.0.0.1"}
    assert all(e["authorization"] == f"Token {token}" for e in api)
    for entry in storage:
        assert entry["authorization"] is None
        assert token not in json.dumps(entry)


async def test_an_expired_link_is_a_download_error_and_leaves_no_file(sim, botify, tmp_path):
    job = await done_job(botify, *SMALL, 1)
    set_faults(sim, expire_downloads=True)
    with pytest.raises(DownloadError, match="probably expired") as caught:
        await botify.download(job.download_url, tmp_path / "small.csv")
    assert caught.value.status == 403
    assert list(tmp_path.iterdir()) == []


async def test_a_truncated_download_is_a_download_error_and_leaves_no_file(
    sim, botify, tmp_path
):
    job = await done_job(botify, *SMALL, 4, fields=["title", "meta_description", "h1"])
    set_faults(sim, truncate_downloads=True)
    with pytest.raises(DownloadError, match="cut short"):
        await botify.download(job.download_url, tmp_path / "small.csv")
    assert list(tmp_path.iterdir()) == []


async def test_a_link_with_a_bad_signature_is_a_download_error(sim, botify, tmp_path):
    job = await done_job(botify, *SMALL, 1)
    forged = job.download_url.replace("signature=", "signature=x")
    with pytest.raises(DownloadError, match="HTTP 403"):
        await botify.download(forged, tmp_path / "small.csv")


# Runs in a fresh interpreter so its peak memory (VmHWM) measures this download alone.
CHILD = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from pipulate.botify import BotifyClient

    def peak_kib():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    async def main(url, target):
        async with BotifyClient("child-token", "http://127.0.0.1:9/v1") as botify:
            before = peak_kib()
            saved = await botify.download(url, Path(target))
            after = peak_kib()
        print(json.dumps({"before": before, "after": after, "size": saved.size,
                          "rows": saved.rows}))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


@pytest.mark.slow
async def test_a_200_mb_gzip_export_downloads_in_flat_memory(sim, botify, tmp_path):
    # Stored deflate blocks make the gzip itself over 200 MB, so a client that held the body
    # (or the CSV) in memory would grow by far more than the limit.
    set_faults(sim, stored_gzip=True)
    job = await done_job(botify, *BIG, BIG_SAFE_DEPTH, fields=["title", "meta_description", "h1"])
    set_faults(sim, stored_gzip=False)
    head = httpx.head(job.download_url)
    assert int(head.headers["Content-Length"]) >= 200_000_000
    target = tmp_path / "big.csv"

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, job.download_url, str(target),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(child.communicate(), timeout=300)
    assert child.returncode == 0
    report = json.loads(output)

    assert report["size"] >= 200_000_000 and report["size"] == target.stat().st_size
    assert report["rows"] == job.rows > 850_000
    grown_mb = (report["after"] - report["before"]) / 1024
    assert grown_mb < 50, f"peak memory grew by {grown_mb:.1f} MB"
