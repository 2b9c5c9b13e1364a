"""The workflow engine: steps declared as data, routes and rendering derived from them.

A workflow subclasses `Workflow`, names itself, lists its `steps`, and for each step id `s`
defines three methods:

    s_form(run, values)   the open step's content; `values` holds what to show in the fields
    s_submit(run, form)   checks the submitted form; returns the state to record, or raises Invalid
    s_done(run)           what the completed step shows

From that the engine registers, under `/{app_name}`: the page, `init`, a GET and a `_submit` POST
per step, `revert`, `finalize` and `unfinalize`. Every request names its run by `key`.

A step is done when its `done` key is in the run's state. A submit that records no `done` key
leaves the step open (a step that starts background work and then waits on it). An open step's
`_form` may record its `done` key itself, when it finds its work finished; the engine then shows
the step as done and moves on.
"""

import inspect
import logging
from dataclasses import dataclass
from typing import Any

from fasthtml.common import FT, APIRouter, Div, Footer, HtmxResponseHeaders
from starlette.requests import Request

from .components import (
    Action,
    EmptyRun,
    ErrorCard,
    FinalizeCard,
    KeyCard,
    Notice,
    RunFrame,
    StepCard,
    StepForm,
)
from .store import InvalidKey, Run, check_key

log = logging.getLogger(__name__)

REFILL = "_refill"


@dataclass(frozen=True)
class Step:
    """One step of a workflow, declared as data.

    `id` names the step's card (`#step_01`) and its methods; `label` heads the card; the step is
    done when the run's state holds `done`; `refill` shows the old value again after a revert to
    this step; `keys` lists any other state keys the step records, cleared with it.
    """

    id: str
    label: str
    done: str
    refill: bool = False
    keys: tuple[str, ...] = ()

    @property
    def owned(self) -> tuple[str, ...]:
        """Every state key this step records."""
        return (self.done, *self.keys)


class Invalid(Exception):
    """Raised by a step's submit when the input cannot be used; the message is shown inline."""


class Workflow:
    """Base class of every workflow; see the module docstring for what a subclass defines."""

    app_name: str = ""
    display_name: str = ""
    description: str = ""
    steps: list[Step] = []

    def __init__(self, pipulate):
        self.pipulate = pipulate
        self.store = pipulate.store
        for step in self.steps:
            for suffix in ("form", "submit", "done"):
                if not callable(getattr(self, f"{step.id}_{suffix}", None)):
                    raise TypeError(f"{type(self).__name__} lacks the method {step.id}_{suffix}.")

    async def startup(self) -> None:
        """Called once when the server starts."""

    async def shutdown(self) -> None:
        """Called once when the server stops."""

    def url(self, action: str = "") -> str:
        """This workflow's page, or one of its routes: `url("step_01")`."""
        return f"/{self.app_name}/{action}" if action else f"/{self.app_name}"

    def step(self, step_id: str) -> Step:
        return next(step for step in self.steps if step.id == step_id)

    # Rendering

    def form(self, run: Run, step_id: str, *fields, button: str = "Next"):
        """The standard form of an open step: its fields and a submit button."""
        return StepForm(self.url(f"{step_id}_submit"), run.key, *fields, button=button)

    def card(self, step_id: str, *content, **attrs):
        """A step's whole card, for a step that needs its own card (a dead end, a poller)."""
        return StepCard(self.step(step_id), *content, **attrs)

    def revert_control(self, run: Run, step_id: str):
        """A button that reopens `step_id` and clears the steps after it."""
        label = self.step(step_id).label
        return Action(f"Revert to {label}", self.url("revert"), run.key,
                      cls="secondary outline", step=step_id)

    async def render_from(self, run: Run, first: Step, errors: dict | None = None) -> list:
        """Cards from `first` down to the first open step, then the finalize card if all done."""
        errors = errors or {}
        cards = []
        for step in self.steps[self.steps.index(first):]:
            if step.done not in run.data:
                card = await self._open_card(run, step, errors.get(step.id))
                if step.done not in run.data:
                    cards.append(card)
                    return cards
            cards.append(await self._done_card(run, step))
        cards.append(FinalizeCard(run.key, run.is_finalized, self.url("finalize"),
                                  self.url("unfinalize")))
        return cards

    async def render_run(self, run: Run, errors: dict | None = None, notice=None):
        """The whole run: its key, an optional notice, and its cards."""
        return RunFrame(run.key, *await self.render_from(run, self.steps[0], errors),
                        notice=notice)

    async def _done_card(self, run: Run, step: Step):
        revert = None if run.is_finalized else Footer(self.revert_control(run, step.id))
        try:
            content = await _maybe_await(getattr(self, f"{step.id}_done")(run))
        except Exception:
            log.exception("Step %s of run %s failed to render.", step.id, run.key)
            content = Notice("This step is complete, but its result could not be shown.")
        return StepCard(step, content, revert)

    async def _open_card(self, run: Run, step: Step, error: tuple[str, dict] | None):
        message, values = error or (None, run.data.get(REFILL, {}).get(step.id, {}))
        try:
            content = await _maybe_await(getattr(self, f"{step.id}_form")(run, values))
        except Exception:
            log.exception("Step %s of run %s failed to render.", step.id, run.key)
            return self.error_card(run, step.id, "This step could not be shown. Try again, "
                                   "or go back a step.")
        notice = Notice(message) if message else None
        if isinstance(content, FT) and content.get("id") == step.id:
            header, *rest = content.children
            content.children = (header, notice, *rest)
            return content
        return StepCard(step, notice, content)

    def error_card(self, run: Run, step_id: str, message: str):
        """What a failed step shows: `message`, a retry, and a way back to the step before."""
        step = self.step(step_id)
        index = self.steps.index(step)
        revert = self.revert_control(run, self.steps[index - 1].id) if index else None
        return ErrorCard(step, message, self.url(step.id), run.key, revert)

    # Routes

    def router(self) -> APIRouter:
        """All of this workflow's routes, for the app to attach."""
        rt, app = APIRouter(), self.app_name
        rt(self.url(), methods=["get"], name=app)(self.page)
        for action in ("init", "revert", "finalize", "unfinalize"):
            rt(self.url(action), methods=["post"], name=f"{app}_{action}")(getattr(self, action))
        for step in self.steps:
            rt(self.url(step.id), methods=["get"], name=f"{app}_{step.id}")(self._step_get(step))
            rt(self.url(f"{step.id}_submit"), methods=["post"], name=f"{app}_{step.id}_submit")(
                self._step_submit(step))
        return rt

    async def page(self, req: Request):
        key = req.query_params.get("key", "").strip()
        run = self._find(key) if key else None
        notice = None
        if key and run is None:
            notice = Notice(f"No run of this workflow has the key {key!r}; start a new one below.")
        cards = await self.render_run(run) if run else EmptyRun()
        return self.pipulate.page(
            self.display_name,
            self.pipulate.heading(self),
            notice,
            self.key_card(run),
            cards,
            current=self.url(),
        )

    def key_card(self, run: Run | None, **attrs):
        """The landing card, showing `run`'s key when there is one."""
        fresh = self.store.next_key(self.pipulate.profile, self.app_name)
        return KeyCard(self.app_name, self.url("init"), fresh, self.store.keys(self.app_name),
                       run.key if run else None, **attrs)

    async def init(self, req: Request):
        form = await req.form()
        typed = form.get("key", "").strip()
        try:
            if not typed:
                run, is_new = self.store.open_fresh(self.pipulate.profile, self.app_name), True
            else:
                run, is_new = self.store.open(check_key(typed), self.app_name)
        except InvalidKey as error:
            return Div(Notice(str(error)), id="run")
        if run.app != self.app_name:
            return Div(Notice(f"The key {run.key!r} belongs to another workflow; choose another."),
                       id="run")
        log.info("Run %s %s.", run.key, "started" if is_new else "resumed")
        return (
            await self.render_run(run),
            self.key_card(run, hx_swap_oob="true"),
            HtmxResponseHeaders(push_url=f"{self.url()}?key={run.key}"),
        )

    def _step_get(self, step: Step):
        async def step_get(req: Request):
            run = self._find(req.query_params.get("key", ""))
            if run is None:
                return _missing_run()
            previous = self.steps[: self.steps.index(step)]
            if any(s.done not in run.data for s in previous):
                return _retarget_run(await self.render_run(run))
            return tuple(await self.render_from(run, step))
        return step_get

    def _step_submit(self, step: Step):
        async def step_submit(req: Request):
            form = await req.form()
            run = self._find(form.get("key", ""))
            if run is None:
                return _missing_run()
            refusal = self._refusal(run, step)
            if refusal:
                return await self.render_run(run, notice=Notice(refusal, "info"))
            values = {name: form.get(name) for name in form if name != "key"}
            try:
                updates = await _maybe_await(getattr(self, f"{step.id}_submit")(run, form))
            except Invalid as error:
                return await self.render_run(run, errors={step.id: (str(error), values)})
            except Exception:
                log.exception("Step %s of run %s failed on submit.", step.id, run.key)
                message = "Something went wrong with this step; nothing was lost. Try again."
                return await self.render_run(run, errors={step.id: (message, values)})
            refill = {k: v for k, v in run.data.get(REFILL, {}).items() if k != step.id}
            run.update(set={**(updates or {}), REFILL: refill})
            if step.done in run.data:
                log.info("Run %s completed %s.", run.key, step.id)
            return await self.render_run(run)
        return step_submit

    def _refusal(self, run: Run, step: Step) -> str | None:
        if run.is_finalized:
            return "This run is finalized; unlock it to change a step."
        if step.done in run.data:
            return (f"{step.label} is already complete (perhaps in another tab); "
                    "revert it to change it.")
        if any(s.done not in run.data for s in self.steps[: self.steps.index(step)]):
            return "An earlier step is open again (perhaps in another tab); continue from there."
        return None

    async def revert(self, req: Request):
        form = await req.form()
        run = self._find(form.get("key", ""))
        step = next((s for s in self.steps if s.id == form.get("step")), None)
        if run is None or step is None:
            return _missing_run()
        if run.is_finalized:
            notice = Notice("Unlock the run to revert a step.", "info")
            return await self.render_run(run, notice=notice)
        later = self.steps[self.steps.index(step) + 1:]
        refill = dict(run.data.get(REFILL, {}))
        if step.refill and step.done in run.data:
            refill[step.id] = self.refill_values(run, step)
        run.update(set={REFILL: refill},
                   remove=[key for s in (step, *later) for key in s.owned])
        log.info("Run %s reverted to %s.", run.key, step.id)
        return await self.render_run(run)

    def refill_values(self, run: Run, step: Step) -> dict:
        """The form values that reopen `step` as it was; by default its done value."""
        return {step.done: run.data.get(step.done)}

    async def finalize(self, req: Request):
        return await self._set_finalized(req, True)

    async def unfinalize(self, req: Request):
        return await self._set_finalized(req, False)

    async def _set_finalized(self, req: Request, is_finalized: bool):
        form = await req.form()
        run = self._find(form.get("key", ""))
        if run is None:
            return _missing_run()
        if is_finalized and any(s.done not in run.data for s in self.steps):
            return await self.render_run(run, notice=Notice("Finish every step first.", "info"))
        run.update(set={"_finalized": is_finalized})
        log.info("Run %s %s.", run.key, "finalized" if is_finalized else "unlocked")
        return await self.render_run(run)

    def _find(self, key: str) -> Run | None:
        key = (key or "").strip()
        run = self.store.get(key) if key else None
        return run if run is not None and run.app == self.app_name else None


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _retarget_run(content):
    return content, HtmxResponseHeaders(retarget="#run", reswap="outerHTML")


def _missing_run():
    notice = Notice("This run no longer exists; reload the page to start or resume one.")
    return _retarget_run(Div(notice, id="run"))
