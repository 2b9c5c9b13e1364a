"""Times download-and-unpack of one big export: our client against `curl -s URL | gzip -d`.

    python bench/download.py [--rounds 5] [--depth 5]

Starts the simulator in a child process on a free loopback port, creates a demo-org/big-site
export (every field, depth 5: about 890,000 rows, over 200 MB of CSV), waits until it is DONE,
downloads it once to warm the simulator's cache, then alternates the two ways for several rounds
(flushing dirty pages before each run, outside the timing) and prints each time, the medians and
their ratio. The target is ours at least 1.5x faster.
"""

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipulate.botify import BotifyClient  # noqa: E402
from tests.support import free_port, wait_until_up  # noqa: E402

ORG, PROJECT = "demo-org", "big-site"
FIELDS = ["title", "meta_description", "h1"]


async def export_url(client: BotifyClient, depth: int) -> tuple[str, int]:
    analysis = (await client.analyses(ORG, PROJECT))[0].slug
    job = await client.create_export(ORG, PROJECT, analysis, max_depth=depth, fields=FIELDS)
    while (job := await client.job(job.ref)).is_pending:
        await asyncio.sleep(0.2)
    if not job.is_done:
        raise SystemExit(f"The export did not finish: {job.failure_reason}")
    return job.download_url, job.rows


async def ours(client: BotifyClient, url: str, target: Path) -> tuple[float, int]:
    started = time.perf_counter()
    saved = await client.download(url, target)
    return time.perf_counter() - started, saved.size


def curl(url: str, target: Path) -> tuple[float, int]:
    command = f"curl -s --fail {shlex.quote(url)} | gzip -d > {shlex.quote(str(target))}"
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)
    return time.perf_counter() - started, target.stat().st_size


async def bench(base: str, rounds: int, depth: int, folder: Path) -> None:
    async with BotifyClient("bench-token", base) as client:
        url, rows = await export_url(client, depth)
        warm = await client.download(url, folder / "warm.csv")
        print(f"Export: {rows:,} rows, {warm.size / 1e6:.0f} MB of CSV.")
        (folder / "warm.csv").unlink()

        times: dict[str, list[float]] = {"ours": [], "curl": []}
        for number in range(1, rounds + 1):
            for way in ("ours", "curl") if number % 2 else ("curl", "ours"):
                target = folder / f"{way}.csv"
                # Each run starts with no dirty pages left by the one before it.
                os.sync()
                if way == "ours":
                    seconds, size = await ours(client, url, target)
                else:
                    seconds, size = curl(url, target)
                if size != warm.size:
                    raise SystemExit(f"{way} wrote {size:,} bytes, expected {warm.size:,}.")
                target.unlink()
                times[way].append(seconds)
                print(f"round {number}  {way:<4}  {seconds:6.3f} s  "
                      f"{size / seconds / 1e6:6.0f} MB/s of CSV")

    ours_median, curl_median = statistics.median(times["ours"]), statistics.median(times["curl"])
    print(f"median  ours {ours_median:.3f} s   curl | gzip -d {curl_median:.3f} s   "
          f"ours is {curl_median / ours_median:.2f}x faster (target 1.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--depth", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "pipulate.sim", "--port", str(port), "--job-seconds", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/_sim/faults", process=simulator)
        with tempfile.TemporaryDirectory(prefix="pipulate-bench-") as folder:
            asyncio.run(bench(base + "/v1", args.rounds, args.depth, Path(folder)))
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


if __name__ == "__main__":
    main()
