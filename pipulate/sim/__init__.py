"""A local stand-in for the Botify API, for tests and the demo; it never contacts Botify.

    from pipulate.sim import create_app
    app = create_app(job_seconds=0.5)        # serve with uvicorn, or mount at /sim

or `python -m pipulate.sim --port 5002 [--host 127.0.0.1] [--token T] [--job-seconds S]`.

It follows /work/shared/botify-api.md. Where that contract is silent, it decides as follows.

Auth and checks
- The header must read `Authorization: Token <token>`; anything else is 401, code 1001. Any token
  is accepted unless the app was created with `token=`.
- Order of checks on every API call: `slow_seconds` delay, missing/wrong token (401 1001),
  `revoked` (401 1001), `error_burst` (503, code 5003, Botify's error shape), rate limit (429
  1053), then the request itself.
- Unknown project 404 1010; `acme-org/secret-site` exists but is 403 1002. Unknown analysis
  404 1004, and so is an analysis whose status is not `success` (the message names the status).
- Badly formed bodies are 400 1020 naming the key (`dimensions`/`metrics` missing, `filter`
  instead of `filters`, export payload keys missing, non-integer depth). A field outside
  `crawl.<slug>.` or not simulated is 400 1029. `export_size` above 1,000,000 is 400 1043.
- An unknown job id is 404 with code 1020 (the contract has no code for it).

Rate limit
- 5 requests per second per (operation, token); only requests let through count, so waiting one
  second always works. Operations: profile, analyses, analyses_light, query, create_job, job.
  The 429 carries `Retry-After: 1` (Botify documents none; fault `retry_after: false` drops it).

Paging
- Analyses: default size 10, at most 100; BQL: default 500, at most 2000. Larger sizes are
  clamped, and `size` in the answer says what was used. A page past the end is empty, not 404.
  `next`/`previous` are absolute URLs of this server (mount prefix included).
- Analyses are newest first; `only_success` defaults to true. Dates are fixed (counting back from
  2025-04-13), so slugs never change. `/light` and full items share keys; full adds a few more.

BQL
- Only `depth` as a dimension and `count_urls_crawl` as a metric are simulated; filters may be
  depth predicates (eq, lt, lte, gt, gte), alone or under `and`. Sort by index or field name.
- Fault `null_depth_row` adds a row whose depth is null, which clients must skip.

Jobs
- Stateless: the job id is base64url JSON of the job plus a checksum (about 130 characters).
  `job_url` is `<mount prefix>/v1/jobs/<id>`. `GET` answers the payload rebuilt from the id.
- DONE: `results = {download_url, nb_lines, expiration_date}`; `nb_lines` counts data rows (no
  `sep=` line, no header). FAILED: `results` null and `error = {error_code: "1060", message}`.
- Export dimensions: url, metadata.title.content, metadata.description.content,
  metadata.h1.contents, depth; `metrics` must be []. Rows above `export_size` are cut, not refused.
- Connector must be `direct_download`, formatter `csv`. `extra_config` `{"filetype": "zip"}` or
  `{"compression": "zip"}` gives a zip with one CSV inside; otherwise gzip.

Files
- Rows come in depth order (home page first), not sorted by URL. URLs look like
  `https://www.<project>.example/<category>/<product>-<depth>-<n>`, unique per row. Titles and
  descriptions hold commas, quotes and accents; the H1 cell is a JSON array (sometimes empty).
- The compressed file is built once per distinct content (isal gzip level 0, zip deflate level 1)
  in a temporary directory, streamed chunk by chunk to disk, starting when the job is created,
  and served with a Content-Length. A 1,000,000-row export takes 2 s (gzip) to 4 s (zip) to
  build, about 210 MB of CSV for big-site at depth 5 with every field; a download that comes
  before the build ends waits for it. The directory goes at lifespan shutdown, or at interpreter
  exit when the app is mounted inside another one (Mount runs no sub-app lifespan).

Storage
- Links look like `<storage origin>/storage/collection_exports/<id>/botify-<date>.csv.gz?
  expires=<epoch>&signature=<hmac>` and expire 24 hours after the job is done. The storage
  origin is `storage_base`, else the request's origin with 127.0.0.1 and localhost swapped (any
  other host is kept, so the origin is then the same).
- Storage errors are S3-like XML: 400 InvalidArgument when an Authorization header is sent,
  403 AccessDenied for a bad signature or expiry, 404 NoSuchKey before the job is done.
- `redirect_downloads` answers 302 to `/storage/redirected/collection_exports/...` on the same
  origin; `truncate_downloads` sends half the file under the full Content-Length, then closes
  the connection (uvicorn logs "ASGI callable returned without completing response").
- `stored_gzip`, set when a job is created, makes its gzip of stored (uncompressed) deflate
  blocks, as big as the CSV: for tests that need a compressed body of hundreds of MB.

Faults act where Botify's would: `slow_seconds`, `error_burst`, `revoked` and the rate limit hit
API calls only; storage links stay valid after a revocation, as signed links do.

Control API (not rate limited, not logged, no token)
- `GET|POST /_sim/faults` (POST merges a JSON object; unknown keys or wrong types are 400),
  `POST /_sim/reset` (faults back to defaults, rate-limit windows and log cleared),
  `GET /_sim/log` (the last 10,000 API and storage requests: time as epoch seconds, method, path,
  query, host, status, operation, authorization).
"""

from .app import create_app

__all__ = ["create_app"]
