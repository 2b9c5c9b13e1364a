"""Botify CSV Export: a Botify crawl to a CSV file on disk, in four steps.

Step 1 takes any Botify project URL and finds the org and project in it. Step 2 picks one of the
project's finished analyses. Step 3 shows URL counts per click depth and picks the deepest depth
whose URLs fit in one export. Step 4 chooses the fields and starts the export; from then on the
server follows the job, downloads and unpacks the file, and the card polls until it is on disk.
"""

import asyncio
import logging
import time
from pathlib import Path

from fasthtml.common import (
    Code,
    Div,
    Fieldset,
    Footer,
    Input,
    Label,
    Legend,
    Option,
    P,
    Progress,
    Select,
    Small,
    Strong,
    Table,
    Tbody,
    Td,
    Th,
    Thead,
    Tr,
)

from pipulate.botify.client import BotifyClient
from pipulate.botify.depth import plan_depth
from pipulate.botify.errors import AuthenticationError, BotifyError
from pipulate.botify.exports import ExportService
from pipulate.botify.registry import ExportRegistry
from pipulate.botify.urls import InvalidProjectURL, parse_project_url
from pipulate.config import APP_DIR
from pipulate.engine import Invalid, Step, Workflow
from pipulate.engine.components import Action, Notice, StepCard

RETRY_HINTS = {
    "job": "Try again starts a new export job.",
    "expired": "Try again starts a new export job: the old link cannot be used any more.",
    "status": "Try again asks Botify about the same job again; no new job is created.",
    "download": "Try again downloads the same file again; no new job is created.",
}

log = logging.getLogger(__name__)

FIELD_CHOICES = [
    ("include_title", "title", "Title"),
    ("include_meta_desc", "meta_description", "Meta description"),
    ("include_h1", "h1", "H1"),
]


class BotifyExport(Workflow):
    app_name = "botify_csv"
    display_name = "Botify CSV Export"
    description = ("Export a Botify crawl to CSV: the URLs down to a safe click depth, with "
                   "their titles, meta descriptions and H1s.")

    steps = [
        Step("step_01", "Project URL", done="botify_url", refill=True,
             keys=("org", "project", "analysis_hint")),
        Step("step_02", "Analysis", done="analysis", refill=True),
        Step("step_03", "Click depth", done="depth", refill=True, keys=("depth_counts",)),
        Step("step_04", "Export", done="export", keys=("export_id", "offer_id")),
    ]

    async def startup(self):
        pipulate = self.pipulate
        self.client = BotifyClient(pipulate.botify_token, pipulate.botify_base, http=pipulate.http)
        self.registry = ExportRegistry(pipulate.downloads / "export_registry.json")
        self.exports = ExportService(self.client, self.registry, pipulate.downloads)
        # Unfinished exports go on once the server is listening (the demo API is this server).
        self._resume = asyncio.get_running_loop().call_later(1.0, self.exports.resume)
        self._token_check = None if pipulate.is_demo else asyncio.create_task(
            self._check_token())

    async def _check_token(self):
        """Tell on every page, from the start, when Botify refuses the token."""
        try:
            profile = await self.client.profile()
        except AuthenticationError as error:
            log.warning("Botify refused the token: %s", error)
            self.pipulate.warnings["token"] = f"Botify refused the token. {error}"
        except BotifyError as error:
            log.warning("Could not check the Botify token: %s", error)
        else:
            log.info("Botify accepted the token of %s.", profile.username)

    async def shutdown(self):
        self._resume.cancel()
        if self._token_check is not None:
            self._token_check.cancel()
        await self.exports.close()

    # Step 1: the user pastes any Botify project URL.
    def step_01_form(self, run, values):
        return self.form(
            run,
            "step_01",
            Label(
                "Botify project URL",
                Input(name="botify_url", value=values.get("botify_url") or "", autofocus=True,
                      placeholder="https://app.botify.com/your-org/your-project/"),
            ),
            Small("Paste the address of any page of the project in Botify."),
        )

    async def step_01_submit(self, run, form):
        try:
            ref = parse_project_url(form.get("botify_url", ""))
        except InvalidProjectURL as error:
            raise Invalid(str(error)) from None
        try:
            await self.client.analyses(ref.org, ref.project)
        except BotifyError as error:
            raise Invalid(f"Could not open that project: {error}") from None

        return {"botify_url": ref.canonical_url, "org": ref.org, "project": ref.project,
                "analysis_hint": ref.analysis}

    def step_01_done(self, run):
        return P("Project ", Strong(f"{run.get('org')} / {run.get('project')}"), " · ",
                 Code(run.get("botify_url")))

    # Step 2: one of the project's finished analyses, the one the URL named preselected.
    async def step_02_form(self, run, values):
        try:
            analyses = await self.client.analyses(run.get("org"), run.get("project"))
        except BotifyError as error:
            return self.error_card(run, "step_02", f"Could not list the analyses: {error}")
        if not analyses:
            return self.card(
                "step_02",
                Notice(f"The project {run.get('org')}/{run.get('project')} has no finished "
                       "analysis to export yet.", "info"),
                Footer(self.revert_control(run, "step_01")),
            )

        slugs = [a.slug for a in analyses]
        hint = run.get("analysis_hint")
        chosen = values.get("analysis") or (hint if hint in slugs else slugs[0])
        exported = {e.analysis for e in self.registry.entries() if e.status == "DOWNLOADED"
                    and (e.org, e.project) == (run.get("org"), run.get("project"))
                    and self.exports.file_path(e).is_file()}
        note = None
        if hint and hint not in slugs:
            note = Notice(f"The analysis {hint} from the URL is not among the finished ones; "
                          "the newest is selected.", "info")
        options = [Option(_analysis_label(a, a.slug in exported), value=a.slug,
                          selected=a.slug == chosen) for a in analyses]
        return self.form(run, "step_02", note,
                         Label("Analysis", Select(*options, name="analysis", autofocus=True)))

    async def step_02_submit(self, run, form):
        slug = form.get("analysis", "")
        try:
            analyses = await self.client.analyses(run.get("org"), run.get("project"))
        except BotifyError as error:
            raise Invalid(f"Could not check the analysis: {error}") from None
        if slug not in {a.slug for a in analyses}:
            raise Invalid(f"{slug!r} is not a finished analysis of this project; pick one below.")

        return {"analysis": slug}

    def step_02_done(self, run):
        return P("Analysis ", Strong(run.get("analysis")))

    # Step 3: URL counts per depth, and the deepest depth that fits in one export.
    async def step_03_form(self, run, values):
        try:
            plan = await self._depth_plan(run)
        except BotifyError as error:
            return self.error_card(run, "step_03", f"Could not count URLs per depth: {error}")
        if plan.safe_depth is None:
            return self.card("step_03", Notice(plan.reason), DepthTable(plan),
                             Footer(self.revert_control(run, "step_02")))

        # The depth chosen before a revert stays chosen; anything else falls back to the safe one.
        chosen = str(values.get("depth"))
        if chosen not in {str(d) for d in plan.allowed_depths}:
            chosen = str(plan.safe_depth)
        options = [Option(f"Depth {d} or less: {_urls(plan.count_through(d))}", value=str(d),
                          selected=str(d) == chosen) for d in reversed(plan.allowed_depths)]
        return self.form(
            run,
            "step_03",
            P(plan.reason),
            DepthTable(plan),
            Label("Export URLs down to", Select(*options, name="depth", autofocus=True)),
        )

    async def step_03_submit(self, run, form):
        plan = await self._depth_plan(run)
        try:
            depth = int(form.get("depth", ""))
        except ValueError:
            raise Invalid("Pick a depth from the list.") from None
        if depth not in plan.allowed_depths:
            raise Invalid(f"Depth {depth} is not allowed: the deepest that fits is "
                          f"{plan.safe_depth}.")

        return {"depth": depth}

    async def step_03_done(self, run):
        plan = await self._depth_plan(run)
        depth = run.get("depth")
        return P("Depth ", Strong(f"{depth} or less"), f": {_urls(plan.count_through(depth))}")

    async def _depth_plan(self, run):
        counts = run.get("depth_counts")
        if counts is None:
            found = await self.client.depth_counts(run.get("org"), run.get("project"),
                                                   run.get("analysis"))
            counts = sorted(found.items())
            run.update(set={"depth_counts": counts})
        return plan_depth(counts)

    # Step 4: the export itself; the card follows the job until the file is on disk.
    async def step_04_form(self, run, values):
        entry = self.registry.get(run.get("export_id") or "")
        if entry is None and run.get("export_id"):
            run.update(remove=["export_id"])
            return self._fields_form(run, values, Notice(
                "The export registry no longer knows this run's export (was "
                "export_registry.json replaced?); start it again.", "info"))
        if entry is None:
            offer = self.registry.get(run.get("offer_id") or "")
            if offer is not None:
                return self._offer_card(run, offer)
            return self._fields_form(run, values)

        self.exports.watch(entry)
        if entry.status == "DOWNLOADED":
            path = self.exports.file_path(entry)
            if path.is_file():
                run.update(set={"export": {"path": str(path), "file": _shown_path(path),
                                           "size": entry.size, "rows": entry.rows}})
                return None
            return self.card("step_04",
                             Notice(f"The file {_shown_path(path)} is no longer on disk."),
                             Footer(self._action(run, "Export again", "new")))
        if entry.status == "FAILED":
            return self.card("step_04", Notice(entry.error or "The export failed."),
                             P(Small(RETRY_HINTS.get(entry.failure, RETRY_HINTS["job"]))),
                             Footer(self._action(run, "Try again", "retry"),
                                    self._action(run, "Change fields", "change", "secondary")),
                             data_status="FAILED")
        return ExportProgress(self.step("step_04"), self.url("step_04"), run.key, entry,
                              self.exports.progress.get(entry.id))

    def _fields_form(self, run, values, notice=None):
        chosen = set(run.get("fields") or [name for _, name, _ in FIELD_CHOICES])
        if values.get("action") == "start":
            chosen = {name for field, name, _ in FIELD_CHOICES if values.get(field)}
        boxes = [Label(Input(type="checkbox", name=field, value="on", checked=name in chosen,
                             autofocus=index == 0), label)
                 for index, (field, name, label) in enumerate(FIELD_CHOICES)]
        return self.form(
            run,
            "step_04",
            notice,
            Fieldset(Legend("Columns beside the URL"), *boxes),
            Input(type="hidden", name="action", value="start"),
            button="Start export",
        )

    def _offer_card(self, run, offer):
        return self.card(
            "step_04",
            P(f"This export was already downloaded on {offer.updated:%Y-%m-%d %H:%M} UTC: ",
              Code(_shown_path(self.exports.file_path(offer))), f", {offer.rows:,} rows."),
            Footer(self._action(run, "Use that file", "reuse"),
                   self._action(run, "Start a new export", "new", "secondary")),
        )

    def _action(self, run, label, action, cls=None):
        return Action(label, self.url("step_04_submit"), run.key, cls=cls, action=action)

    async def step_04_submit(self, run, form):
        action = form.get("action", "start")
        if action == "change":
            run.update(remove=["export_id", "offer_id"])
            return None
        if action == "reuse" and run.get("offer_id"):
            return {"export_id": run.get("offer_id"), "offer_id": None}
        entry = self.registry.get(run.get("export_id") or "")
        if action == "retry" and entry is not None and entry.status == "FAILED":
            return {"export_id": (await self.exports.retry(entry)).id}
        # Only Start export and Start a new export may create a job; an old button may not.
        if action not in ("start", "new") or (action == "new" and run.get("fields") is None):
            raise Invalid("That button was out of date (perhaps another tab moved on); "
                          "here is where the export stands now.")

        fields = run.get("fields") if action == "new" else [
            name for field, name, _ in FIELD_CHOICES if form.get(field)]
        key = (run.get("org"), run.get("project"), run.get("analysis"), run.get("depth"), fields)
        if action == "start":
            done = self.registry.latest(*key)
            if done and done.status == "DOWNLOADED" and self.exports.file_path(done).is_file():
                return {"offer_id": done.id, "fields": fields}

        entry = await self.exports.start(*key)
        return {"export_id": entry.id, "offer_id": None, "fields": fields}

    def step_04_done(self, run):
        export = run.get("export")
        if not Path(export["path"]).is_file():
            return Notice(f"The file {export['file']} is no longer on disk; revert this step "
                          "to export it again.")
        return (
            P("Saved ", Code(export["file"], id="export-file")),
            P(f"{_size(export['size'])} · ", Strong(f"{export['rows']:,}"), " rows",
              id="export-summary"),
        )


def ExportProgress(step, poll_url, key, entry, progress):
    """The card of a running export: it polls itself every two seconds until the file lands."""
    elapsed = time.time() - entry.created.timestamp()
    clock = f"{int(elapsed // 60)}:{int(elapsed % 60):02d} elapsed"
    if entry.status in ("DONE", "DOWNLOADING"):
        received, total = (progress.received, progress.total) if progress else (0, None)
        text = f"Downloading the file: {_size(received)}" + (
            f" of {_size(total)} compressed" if total else " so far")
        bar = Progress(value=str(received), max=str(total)) if total else Progress()
    else:
        state = (progress.job_status if progress else None) or "CREATED"
        text = f"Botify is preparing the export (job {state})"
        bar = Progress()
    bar.attrs.update({"id": "export-progress", "aria-label": "Export progress"})
    return StepCard(
        step,
        P(text, " · ", Small(clock), id="export-state"),
        bar,
        hx_get=poll_url,
        hx_vals={"key": key},
        hx_trigger="every 2s",
        hx_swap="outerHTML",
        data_status=entry.status,
    )


def DepthTable(plan):
    rows = [
        Tr(Td(str(r.depth)), Td(f"{r.count:,}"), Td(f"{r.cumulative:,}"),
           Td("fits" if r.cumulative <= plan.cap else "too many"))
        for r in plan.rows
    ]
    table = Table(
        Thead(Tr(Th("Depth"), Th("URLs"), Th("Down to here"), Th("Fits?"))),
        Tbody(*rows),
        cls="depths",
    )
    return Div(table, cls="overflow-auto")


def _analysis_label(analysis, is_exported: bool) -> str:
    label = analysis.slug
    if analysis.date_finished:
        label += f" · finished {analysis.date_finished:%Y-%m-%d}"
    return label + (" · already exported" if is_exported else "")


def _shown_path(path: Path) -> str:
    """The path relative to the app folder, else to the folder the server started in."""
    path = path.resolve()
    for folder in (APP_DIR, Path.cwd().resolve()):
        if path.is_relative_to(folder):
            return path.relative_to(folder).as_posix()
    return str(path)


def _urls(count: int) -> str:
    return f"{count:,} URL" + ("" if count == 1 else "s")


def _size(size: int | None) -> str:
    if size is None:
        return "unknown size"
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
