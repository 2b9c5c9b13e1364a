"""The application: settings, run store, shared HTTP client, plugins and pages in one place."""

import logging
import secrets
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from fasthtml.common import H1, A, Article, Div, FastHTML, Footer, P, Small, Strong
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.staticfiles import StaticFiles

from .botify.client import DEFAULT_TIMEOUT, check_token
from .config import Settings
from .engine.components import HEADERS, Menu, Notice, Page
from .engine.plugins import load_plugins
from .engine.store import RunStore

log = logging.getLogger(__name__)
request_log = logging.getLogger("pipulate.requests")

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1"]


def url_host(host: str) -> str:
    """A host as it stands in a URL: IPv6 addresses go in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Pipulate:
    """What every workflow shares: settings, run store, HTTP client and the page frame."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.profile = settings.profile
        self.store = RunStore(settings.data / "pipulate.db")
        self.downloads = settings.downloads
        self.http: httpx.AsyncClient | None = None
        self.is_demo = settings.is_demo
        if self.is_demo and settings.token_file.exists():
            log.warning("%s holds no token on its first line; running in demo mode.",
                        settings.token_file)
        if self.is_demo:
            # The simulator is mounted in this very server.
            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
            self.botify_base = f"http://{url_host(host)}:{settings.port}/sim/v1"
            self.botify_token = "demo-token"
        else:
            self.botify_base = settings.botify_api_base.rstrip("/")
            self.botify_token = check_token(settings.botify_token())
        self.workflows, self.broken = [], []
        # Problems every page should mention, such as a token Botify refused.
        self.warnings: dict[str, str] = {}

    def menu(self, current: str | None = None):
        entries = [(w.url(), w.display_name, True, w.description) for w in self.workflows]
        entries += [(None, b.label, False, f"{b.path.name}: {b.error}") for b in self.broken]
        return Menu(entries, current)

    def page(self, title: str, *content, current: str | None = None):
        banner = None
        if self.is_demo:
            banner = P(Strong("Demo mode: "), "no Botify token is configured, so the app talks to "
                       "its built-in Botify simulator.", cls="demo-banner", id="demo-banner")
        warnings = [Notice(text) for text in self.warnings.values()]
        return Page(title, Div(*warnings, id="flash"), *content, menu=self.menu(current),
                    banner=banner)

    def heading(self, workflow):
        return Div(H1(workflow.display_name), P(workflow.description))


class RequestLog:
    """One DEBUG line per request handled: method, path, status and milliseconds."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            ms = (time.perf_counter() - started) * 1000
            request_log.debug("%s %s %d %.0fms", scope["method"], scope["path"], status[0], ms)


class SameOrigin:
    """Refuse a state-changing request sent by another site's page (cross-site request forgery).

    Browsers send `Origin` with every cross-origin POST (`null` from a sandboxed frame) and say
    where a request comes from in `Sec-Fetch-Site`; a page of the app sends its own origin.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope["headers"])
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            site = headers.get(b"sec-fetch-site", b"same-origin").decode("latin-1")
            is_foreign = origin and origin.split("://", 1)[-1] != host
            if is_foreign or site not in ("same-origin", "none"):
                log.warning("Refused a %s to %s sent from another site (%s).",
                            scope["method"], scope["path"], origin)
                response = PlainTextResponse("Requests from other sites are refused.", 403)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None):
    """The ASGI app for `settings`: plugins loaded, routes attached, demo simulator mounted."""
    settings = settings or Settings()
    pipulate = Pipulate(settings)
    simulator = None
    if pipulate.is_demo:
        from .sim import create_app as create_simulator

        simulator = create_simulator(job_seconds=settings.demo_job_seconds)

    async def lifespan(app):
        async with AsyncExitStack() as stack:
            if simulator is not None:
                await stack.enter_async_context(simulator.router.lifespan_context(simulator))
            pipulate.http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False))
            for workflow in pipulate.workflows:
                await workflow.startup()
                stack.push_async_callback(workflow.shutdown)
            yield

    app = FastHTML(
        hdrs=HEADERS,
        default_hdrs=False,
        canonical=False,
        secret_key=secrets.token_hex(16),
        sess_cls=None,
        lifespan=lifespan,
        exception_handlers={500: _server_error},
        title="Pipulate",
    )
    app.state.pipulate = pipulate
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    if simulator is not None:
        app.mount("/sim", simulator)
        log.info("Demo mode: no Botify token is configured, so the built-in simulator answers "
                 "at %s.", pipulate.botify_base)

    pipulate.workflows, pipulate.broken = load_plugins(settings.plugins, pipulate)
    for workflow in pipulate.workflows:
        workflow.router().to_app(app)

    # The home page: every workflow with its description.
    @app.get("/")
    def home():
        cards = [
            Article(A(Strong(w.display_name), href=w.url()), P(w.description))
            for w in pipulate.workflows
        ]
        cards += [
            Article(Strong(b.label), P(f"Unavailable: {b.path.name} failed to load."),
                    Footer(Small(b.error)))
            for b in pipulate.broken
        ]
        return pipulate.page("Workflows", H1("Workflows"), *cards, current="/")

    if settings.host in LOOPBACK_HOSTS:
        # A page on another site cannot reach us by rebinding its own name to 127.0.0.1.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_NAMES)
    app.add_middleware(SameOrigin)
    app.add_middleware(RequestLog)
    return app


def _server_error(request: Request, exc: Exception):
    log.error("Request %s %s failed.", request.method, request.url.path, exc_info=exc)
    message = "Something went wrong on the server; nothing was lost. Reload the page to go on."
    if request.headers.get("HX-Request"):
        return HTMLResponse(
            Div(Notice(message), id="flash").__html__(),
            headers={"HX-Retarget": "#flash", "HX-Reswap": "outerHTML"},
        )
    return HTMLResponse(f"<!doctype html><title>Error</title><p>{message}</p>", status_code=500)
