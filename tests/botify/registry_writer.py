"""Write the export registry in a tight loop until killed; driven by test_registry_kill.py.

    python registry_writer.py <registry path> <depth>

Prints `ready` once imported, waits for a line on stdin, then repeats: add an entry, print
`added <id>`; update it to DONE, print `done <id>`. Each line is flushed after the write returns,
so a printed line is a promise that the registry holds that change.
"""

import sys
from pathlib import Path

from pipulate.botify.registry import ExportEntry, ExportRegistry


def main(path: str, depth: str) -> None:
    registry = ExportRegistry(Path(path))
    print("ready", flush=True)
    sys.stdin.readline()
    while True:
        entry = registry.add(
            ExportEntry(
                org="demo-org",
                project="small-site",
                analysis="20250413",
                depth=int(depth),
                fields=["title", "h1"],
            )
        )
        print(f"added {entry.id}", flush=True)
        registry.update(entry.id, status="DONE", job_id=entry.id, job_url=f"/v1/jobs/{entry.id}")
        print(f"done {entry.id}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
