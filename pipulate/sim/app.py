"""The simulator's routes: Botify API under /v1, storage under /storage, control under /_sim."""

import asyncio
import contextlib
import json
import logging
import time
from collections import deque

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import bql, data
from .errors import (
    BAD_REQUEST,
    EXPORT_FAILED,
    NOT_AUTHORIZED,
    TOO_MANY_REQUESTS,
    UNAVAILABLE,
    ApiError,
    bad_request,
)
from .exports import ExportCache
from .faults import Faults, RateLimiter
from .jobs import STORED_GZIP, ExportJob, check_project, iso, parse_export, signature

logger = logging.getLogger(__name__)

LOG_ENTRY = "pipulate.sim.log_entry"
LOG_LIMIT = 10_000
ANALYSES_PAGE = (10, 100)
QUERY_PAGE = (500, 2000)
STORAGE_PREFIX = "/storage/collection_exports"
REDIRECTED_PREFIX = "/storage/redirected/collection_exports"
MEDIA_TYPES = {"gzip": "application/gzip", STORED_GZIP: "application/gzip",
               "zip": "application/zip"}


class FastFileResponse(FileResponse):
    chunk_size = 1024 * 1024


class TruncatedFileResponse(Response):
    """Promises the whole file in Content-Length, sends the first half, then drops the line."""

    def __init__(self, path, size: int, media_type: str):
        super().__init__(media_type=media_type)
        self.path, self.size = path, size
        self.headers["content-length"] = str(size)

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            return
        left = self.size // 2
        with open(self.path, "rb") as file:
            while left > 0:
                chunk = file.read(min(left, FastFileResponse.chunk_size))
                left -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})


class RequestLog:
    """ASGI middleware recording every API and storage request; the control API is left out."""

    def __init__(self, app, entries: deque):
        self.app, self.entries = app, entries

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        relative = path.removeprefix(scope.get("root_path", ""))
        if scope["type"] != "http" or relative.startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1")
                   for key, value in scope["headers"]}
        entry = {
            "time": time.time(),
            "method": scope["method"],
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "host": headers.get("host"),
            "status": None,
            "operation": None,
            "authorization": headers.get("authorization"),
        }
        scope[LOG_ENTRY] = entry
        # Logged on arrival, so a client reading the log right after its answer finds the entry.
        self.entries.append(entry)

        async def record_status(message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except Exception:
            entry["status"] = entry["status"] or 500
            raise


class Simulator:
    def __init__(self, token: str | None, job_seconds: float, storage_base: str | None):
        self.token, self.job_seconds = token, job_seconds
        self.storage_base = storage_base.rstrip("/") if storage_base else None
        self.faults = Faults()
        self.limiter = RateLimiter()
        self.log: deque[dict] = deque(maxlen=LOG_LIMIT)
        self.cache = ExportCache()

    # Every API answer passes here first: slow, then auth, revoked, error burst, rate limit.
    async def guard(self, request: Request, operation: str) -> None:
        if LOG_ENTRY in request.scope:
            request.scope[LOG_ENTRY]["operation"] = operation
        if self.faults.slow_seconds > 0:
            await asyncio.sleep(self.faults.slow_seconds)

        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "token" or not token:
            raise ApiError(401, NOT_AUTHORIZED, "Authentication credentials were not provided: "
                           "send the header 'Authorization: Token <your token>'.")
        if self.token is not None and token != self.token:
            raise ApiError(401, NOT_AUTHORIZED, "Invalid token.")
        if self.faults.revoked:
            raise ApiError(401, NOT_AUTHORIZED,
                           "Invalid token: it was regenerated and no longer works.")

        if self.faults.error_burst > 0:
            self.faults.error_burst -= 1
            raise ApiError(503, UNAVAILABLE, "The service is temporarily unavailable.")
        if self.faults.rate_limit and not self.limiter.allow(operation, token):
            headers = {"Retry-After": "1"} if self.faults.retry_after else None
            raise ApiError(429, TOO_MANY_REQUESTS, "Too many requests: at most 5 per second "
                           f"for the operation {operation!r}.", headers=headers)

    # GET /v1/authentication/profile
    async def profile(self, request: Request) -> JSONResponse:
        await self.guard(request, "profile")
        return JSONResponse({"data": {"username": data.USERNAME, "email": "demo@example.com",
                                      "first_name": "Demo", "last_name": "User"}})

    # GET /v1/analyses/{org}/{project}[/light]
    async def analyses(self, request: Request) -> JSONResponse:
        light = request.url.path.endswith("/light")
        await self.guard(request, "analyses_light" if light else "analyses")
        org, project = request.path_params["org"], request.path_params["project"]
        check_project(org, project)
        page, size = page_params(request, *ANALYSES_PAGE)

        only_success = request.query_params.get("only_success", "true").lower()
        if only_success not in ("true", "false", "1", "0"):
            raise bad_request(f"'only_success' must be true or false, not {only_success!r}.")
        items = data.analyses(org, project)
        if only_success in ("true", "1"):
            items = [item for item in items if item["status"] == "success"]
        if not light:
            items = [full_analysis(org, project, item) for item in items]

        chunk = items[(page - 1) * size:page * size]
        body = {"count": len(items), **links(request, page, size, page * size < len(items)),
                "results": chunk}
        return JSONResponse(body)

    # POST /v1/projects/{org}/{project}/query
    async def query(self, request: Request) -> JSONResponse:
        await self.guard(request, "query")
        org, project = request.path_params["org"], request.path_params["project"]
        check_project(org, project)
        page, size = page_params(request, *QUERY_PAGE)

        rows = bql.count_rows(org, project, await json_body(request),
                              null_depth_row=self.faults.null_depth_row)
        chunk = rows[(page - 1) * size:page * size]
        return JSONResponse({"results": chunk,
                             **links(request, page, size, page * size < len(rows))})

    # POST /v1/jobs
    async def create_job(self, request: Request) -> JSONResponse:
        await self.guard(request, "create_job")
        body = await json_body(request)
        job = parse_export(body, now=time.time(), will_fail=self.faults.fail_jobs,
                           stored_gzip=self.faults.stored_gzip)
        if not job.will_fail:
            self.cache.prepare(job)
        logger.info("Created export job for %s/%s %s (%d rows).",
                    job.org, job.project, job.analysis, job.nb_lines)
        return JSONResponse(
            {**self.job_summary(request, job), "job_status": "CREATED",
             "payload": body["payload"], "results": None},
            status_code=201,
        )

    # GET /v1/jobs/{job_id}
    async def job(self, request: Request) -> JSONResponse:
        await self.guard(request, "job")
        job = ExportJob.from_id(request.path_params["job_id"])
        if job is None:
            raise ApiError(404, BAD_REQUEST,
                           f"Job {request.path_params['job_id']!r} does not exist.")
        status = job.status(time.time(), self.job_seconds)
        body = {**self.job_summary(request, job), "job_status": status,
                "payload": job.payload(), "results": None}
        if status == "DONE":
            expires = job.link_expiry(self.job_seconds)
            url = (f"{self.storage_origin(request)}{STORAGE_PREFIX}/{job.job_id}/{job.filename}"
                   f"?expires={expires}&signature={signature(job.job_id, expires)}")
            body["results"] = {"download_url": url, "nb_lines": job.nb_lines,
                               "expiration_date": iso(expires)}
        elif status == "FAILED":
            body["error"] = {"error_code": EXPORT_FAILED,
                             "message": "The export failed on Botify's side; create it again."}
        return JSONResponse(body)

    def job_summary(self, request: Request, job: ExportJob) -> dict:
        return {"job_id": job.job_id, "job_type": "export",
                "job_url": f"{request.scope.get('root_path', '')}/v1/jobs/{job.job_id}",
                "date_created": iso(job.created), "user": data.USERNAME}

    def storage_origin(self, request: Request) -> str:
        """Where downloads live: storage_base, else this server with 127.0.0.1/localhost swapped."""
        if self.storage_base:
            return self.storage_base
        host = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(
            request.url.hostname or "", request.url.hostname)
        port = f":{request.url.port}" if request.url.port else ""
        return f"{request.url.scheme}://{host}{port}{request.scope.get('root_path', '')}"

    # GET /storage/[redirected/]collection_exports/{job_id}/{filename}?expires=..&signature=..
    async def download(self, request: Request) -> Response:
        if LOG_ENTRY in request.scope:
            request.scope[LOG_ENTRY]["operation"] = "download"
        if "authorization" in request.headers:
            return storage_error(400, "InvalidArgument",
                                 "Only one auth mechanism allowed: the link is already signed.")
        job = ExportJob.from_id(request.path_params["job_id"])
        now = time.time()
        if (job is None or request.path_params["filename"] != job.filename
                or job.status(now, self.job_seconds) != "DONE"):
            return storage_error(404, "NoSuchKey", "The specified key does not exist.")
        expires = request.query_params.get("expires", "")
        expires = int(expires) if expires.isdigit() else 0
        if request.query_params.get("signature") != signature(job.job_id, expires):
            return storage_error(403, "AccessDenied", "The link signature does not match.")
        if self.faults.expire_downloads or now > expires:
            return storage_error(403, "AccessDenied", "Request has expired.")

        if self.faults.redirect_downloads and REDIRECTED_PREFIX not in request.url.path:
            root = request.scope.get("root_path", "")
            location = (f"{request.url.scheme}://{request.url.netloc}{root}{REDIRECTED_PREFIX}"
                        f"/{job.job_id}/{job.filename}?{request.url.query}")
            return RedirectResponse(location, status_code=302)

        path = await self.cache.get(job)
        media_type = MEDIA_TYPES[job.compression]
        if self.faults.truncate_downloads:
            return TruncatedFileResponse(path, path.stat().st_size, media_type)
        return FastFileResponse(path, media_type=media_type)

    # GET /_sim/faults, POST /_sim/faults (merge)
    async def faults_endpoint(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            changes = await json_body(request)
            if not isinstance(changes, dict):
                raise bad_request("Send the faults as a JSON object.")
            try:
                self.faults.update(changes)
            except ValueError as error:
                raise bad_request(str(error)) from None
        return JSONResponse(self.faults.as_dict())

    # POST /_sim/reset
    async def reset(self, request: Request) -> JSONResponse:
        self.faults = Faults()
        self.limiter.clear()
        self.log.clear()
        return JSONResponse(self.faults.as_dict())

    # GET /_sim/log
    async def log_endpoint(self, request: Request) -> JSONResponse:
        return JSONResponse(list(self.log))


def page_params(request: Request, default: int, maximum: int) -> tuple[int, int]:
    """Page (from 1) and size; sizes above the maximum are clamped to it, as DRF does."""
    try:
        page = int(request.query_params.get("page", 1))
        size = int(request.query_params.get("size", default))
    except ValueError:
        raise bad_request("'page' and 'size' must be integers.") from None
    if page < 1 or size < 1:
        raise bad_request(f"'page' and 'size' must be at least 1, not {page} and {size}.")
    return page, min(size, maximum)


def links(request: Request, page: int, size: int, has_next: bool) -> dict:
    def url(number: int) -> str:
        return str(request.url.include_query_params(page=number, size=size))

    return {"page": page, "size": size, "next": url(page + 1) if has_next else None,
            "previous": url(page - 1) if page > 1 else None}


async def json_body(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError:
        raise bad_request("The request body is not valid JSON.") from None


def full_analysis(org: str, project: str, item: dict) -> dict:
    finished = item["status"] == "success"
    total = sum(data.depth_counts(org, project, item["slug"]).values())
    return {**item, "user": {"login": data.USERNAME}, "owner": {"login": org},
            "urls_done": total if finished else total // 2,
            "urls_in_queue": 0 if finished else total // 2,
            "features": {"main": {"lang": True}, "segments": {"flags": []}}}


def storage_error(status: int, code: str, message: str) -> Response:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>")
    return Response(body, status_code=status, media_type="application/xml")


async def api_error(request: Request, error: ApiError) -> JSONResponse:
    return error.response()


def create_app(*, token: str | None = None, job_seconds: float = 3.0,
               storage_base: str | None = None) -> Starlette:
    """The simulator as an ASGI app; `token` set means only that token is accepted."""
    sim = Simulator(token, job_seconds, storage_base)
    routes = [
        Route("/v1/authentication/profile", sim.profile),
        Route("/v1/analyses/{org}/{project}/light", sim.analyses),
        Route("/v1/analyses/{org}/{project}", sim.analyses),
        Route("/v1/projects/{org}/{project}/query", sim.query, methods=["POST"]),
        Route("/v1/jobs", sim.create_job, methods=["POST"]),
        Route("/v1/jobs/{job_id}", sim.job),
        Route(STORAGE_PREFIX + "/{job_id}/{filename}", sim.download, methods=["GET", "HEAD"]),
        Route(REDIRECTED_PREFIX + "/{job_id}/{filename}", sim.download, methods=["GET", "HEAD"]),
        Route("/_sim/faults", sim.faults_endpoint, methods=["GET", "POST"]),
        Route("/_sim/reset", sim.reset, methods=["POST"]),
        Route("/_sim/log", sim.log_endpoint),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        sim.cache.close()

    app = Starlette(routes=routes, exception_handlers={ApiError: api_error}, lifespan=lifespan)
    app.add_middleware(RequestLog, entries=sim.log)
    app.state.simulator = sim
    return app
