import csv
import gzip
import io
import threading
import time

from pipulate.sim import exports
from pipulate.sim.jobs import ExportJob
from tests.sim.helpers import FIELDS, newest_success

SLUG = newest_success("demo-org", "small-site")


def small_job(**changes) -> ExportJob:
    values = dict(org="demo-org", project="small-site", analysis=SLUG, fields=FIELDS,
                  conditions=(("lte", 9),), compression="gzip", print_header=True,
                  print_delimiter=True, export_size=1_000_000, created=round(time.time(), 3),
                  will_fail=False)
    return ExportJob(**{**values, **changes})


def test_job_id_round_trips_and_rejects_garbage():
    job = small_job()

    assert ExportJob.from_id(job.job_id) == job
    tampered = job.job_id[:-1] + ("1" if job.job_id[-1] == "0" else "0")
    assert ExportJob.from_id(tampered) is None
    assert ExportJob.from_id("12345") is None


def test_rows_parse_as_csv_with_tricky_text_and_unique_urls():
    text = "".join(chunk.decode() for chunk in exports.chunks(small_job()))
    rows = list(csv.reader(io.StringIO(text.split("\n", 1)[1])))

    titles = " ".join(row[1] for row in rows[1:])
    assert all(len(row) == 4 for row in rows)
    assert '"' in titles and "," in titles and "é" in titles
    assert len({row[0] for row in rows[1:]}) == len(rows) - 1 == small_job().nb_lines


def test_export_size_cuts_the_rows():
    text = b"".join(exports.chunks(small_job(export_size=100))).decode()

    assert len(text.splitlines()) == 2 + 100


def test_header_lines_follow_the_formatter_config():
    bare = small_job(print_header=False, print_delimiter=False)

    assert exports.header(small_job()).splitlines() == [
        "sep=,", "Full URL,Title,Meta Description,metadata-h1-contents"]
    assert exports.header(bare) == ""


def test_write_stops_midway_and_leaves_nothing(tmp_path):
    stop = threading.Event()
    stop.set()

    assert exports.write(small_job(), tmp_path / "out.gz", stop) is False
    assert list(tmp_path.iterdir()) == []


def test_write_produces_a_complete_gzip(tmp_path):
    assert exports.write(small_job(), tmp_path / "out.gz")

    assert gzip.decompress((tmp_path / "out.gz").read_bytes()).startswith(b"sep=,\n")
