import time

import httpx

from pipulate.sim import data

FIELDS = ("url", "metadata.title.content", "metadata.description.content",
          "metadata.h1.contents")


def newest_success(org: str, project: str) -> str:
    return next(item["slug"] for item in data.analyses(org, project)
                if item["status"] == "success")


def count_query(slug: str) -> dict:
    return {
        "collections": [f"crawl.{slug}"],
        "query": {
            "dimensions": [f"crawl.{slug}.depth"],
            "metrics": [f"crawl.{slug}.count_urls_crawl"],
            "sort": [{"index": 0, "type": "dimensions", "order": "asc"}],
        },
    }


def export_body(org: str, project: str, slug: str, depth: int | None = 3,
                fields=FIELDS, **payload) -> dict:
    query = {"dimensions": [f"crawl.{slug}.{name}" for name in fields], "metrics": [],
             "sort": [{"index": 0, "type": "dimensions", "order": "asc"}]}
    if depth is not None:
        query["filters"] = {"field": f"crawl.{slug}.depth", "predicate": "lte", "value": depth}
    return {"job_type": "export", "payload": {
        "username": org, "project": project, "connector": "direct_download",
        "formatter": "csv", "export_size": 1_000_000,
        "formatter_config": {"print_header": True},
        "query": {"collections": [f"crawl.{slug}"], "query": query},
        **payload,
    }}


def wait_done(api: httpx.Client, job_url: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(job_url)
        if job.status_code != 429 and job.json()["job_status"] in ("DONE", "FAILED"):
            return job.json()
        # Four polls a second stay under the rate limit of five.
        time.sleep(0.25)
    raise AssertionError(f"Job {job_url} did not finish within {timeout} seconds.")
