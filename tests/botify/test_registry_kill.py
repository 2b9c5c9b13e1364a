import json
import random
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest

from pipulate.botify.registry import ExportRegistry

WRITER = Path(__file__).with_name("registry_writer.py")
KILLS = 100
SPARES = 4


def _spawn(registry_path: Path, round_no: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(registry_path), str(round_no % 10)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen) -> str:
    proc.kill()
    output = proc.stdout.read()
    proc.wait()
    proc.stdin.close()
    proc.stdout.close()
    return output


# 6-15 s on two cores: a hundred interpreter start-ups, each importing pipulate.botify.
@pytest.mark.slow
def test_registry_survives_kill_during_write(tmp_path):
    path = tmp_path / "export_registry.json"
    rng = random.Random()
    acked = {"added": set(), "done": set()}
    kills_mid_write = 0
    # Writers start in advance and wait for a go line, so interpreter start-up overlaps the runs.
    spares = deque(_spawn(path, n) for n in range(SPARES))
    started = time.monotonic()

    try:
        for round_no in range(KILLS):
            writer = spares.popleft()
            spares.append(_spawn(path, round_no + SPARES))
            try:
                assert writer.stdout.readline() == "ready\n"
                temp_files = set(tmp_path.glob(".export_registry.json.*.tmp"))
                writer.stdin.write("go\n")
                writer.stdin.flush()
                time.sleep(rng.uniform(0, 0.05))
            finally:
                output = _stop(writer)
            assert writer.returncode == -signal.SIGKILL
            for line in output.splitlines():
                kind, _, entry_id = line.partition(" ")
                acked[kind].add(entry_id)

            kills_mid_write += bool(set(tmp_path.glob(".export_registry.json.*.tmp")) - temp_files)
            if not path.exists():
                assert not acked["added"]
                continue
            assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1
            entries = {entry.id: entry for entry in ExportRegistry(path).entries()}
            assert not list(tmp_path.glob("*.corrupt-*")), f"registry corrupt in round {round_no}"
            assert acked["added"] <= entries.keys(), f"acked entries lost in round {round_no}"
            assert all(entries[entry_id].status == "DONE" for entry_id in acked["done"])
    finally:
        for spare in spares:
            _stop(spare)

    print(
        f"{KILLS} kills in {time.monotonic() - started:.1f}s, {len(acked['added'])} entries "
        f"acked, {kills_mid_write} kills left a half-written temporary file"
    )
    assert len(acked["added"]) >= KILLS // 4, "the writers barely wrote; the kills tested nothing"
    assert kills_mid_write > 0, "no kill landed during a write"
