"""Page pieces shared by every workflow: step cards, controls and the page frame."""

from fasthtml.common import (
    H2,
    A,
    Article,
    Button,
    Datalist,
    Div,
    Footer,
    Form,
    Header,
    Input,
    Label,
    Li,
    Link,
    Main,
    Meta,
    Nav,
    Option,
    P,
    Script,
    Small,
    Strong,
    Title,
    Ul,
)

HEADERS = (
    Meta(charset="utf-8"),
    Meta(name="viewport", content="width=device-width, initial-scale=1"),
    Link(rel="icon", href="data:,"),
    Link(rel="stylesheet", href="/static/vendor/pico/pico.min.css"),
    Link(rel="stylesheet", href="/static/pipulate.css"),
    Script(src="/static/vendor/htmx/htmx.min.js"),
    Script(src="/static/pipulate.js", defer=True),
)


def Page(title: str, *content, menu=None, banner=None):
    """A whole page: the menu across the top, then the content."""
    return (
        Title(f"{title} · Pipulate"),
        Main(menu, banner, *content, cls="container"),
    )


def Menu(entries, current: str | None = None):
    """The workflow menu; `entries` are (href, label, is_available, hint) tuples."""
    items = []
    for href, label, is_available, hint in entries:
        if is_available:
            link = A(label, href=href, aria_current="page" if href == current else None)
            items.append(Li(link))
        else:
            items.append(Li(Small(f"{label} (unavailable)", title=hint, cls="unavailable")))
    return Nav(Ul(Li(A(Strong("Pipulate"), href="/"))), Ul(*items), cls="menu")


def StepCard(step, *content, **attrs):
    """The card of one step; its id is the step's id, so htmx can swap it in place."""
    return Article(Header(H2(step.label)), *content, id=step.id, cls="step", **attrs)


def Notice(message: str, kind: str = "error"):
    """A short inline message; `kind` is error, info or success."""
    return P(message, cls=f"notice {kind}", role="alert" if kind == "error" else "status")


def Action(label: str, url: str, key: str, target: str = "#run", cls=None, autofocus=False,
           **vals):
    """A button that posts the run key (and `vals`) to `url` and swaps `target`."""
    return Button(
        label,
        hx_post=url,
        hx_vals={"key": key, **vals},
        hx_target=target,
        hx_swap="outerHTML",
        cls=cls,
        autofocus=autofocus,
        type="button",
    )


def StepForm(url: str, key: str, *fields, button: str = "Next"):
    """The form of an open step: posts its fields and the run key, then redraws the run."""
    return Form(
        Input(type="hidden", name="key", value=key),
        *fields,
        Button(button, type="submit"),
        hx_post=url,
        hx_target="#run",
        hx_swap="outerHTML",
        hx_disabled_elt="find button[type=submit]",
    )


def KeyCard(app_name: str, init_url: str, fresh_key: str, earlier: list[str], key: str | None,
            **attrs):
    """The landing card: leave the key empty for a new run, or type or pick one to resume it."""
    return Article(
        Form(
            Label(
                "Run key",
                Input(
                    name="key",
                    value=key or "",
                    placeholder=f"{fresh_key} (new run)",
                    list=f"{app_name}-keys",
                    autocomplete="off",
                    aria_describedby=f"{app_name}-key-help",
                ),
            ),
            Datalist(*[Option(value=k) for k in earlier], id=f"{app_name}-keys"),
            Small(
                "Leave it empty to start a new run, or type or pick an earlier key to resume it.",
                id=f"{app_name}-key-help",
            ),
            Div(
                Button("Start or resume", type="submit"),
                A("New run", href=f"/{app_name}", role="button", cls="secondary outline"),
                cls="grid",
            ),
            hx_post=init_url,
            hx_target="#run",
            hx_swap="outerHTML",
        ),
        id="landing",
        cls="landing",
        **attrs,
    )


def RunFrame(key: str, *cards, notice=None):
    """The run's container: its key, an optional notice, then the step cards."""
    return Div(
        P(Small("Run "), Strong(key, cls="run-key"), cls="run-header"),
        notice,
        *cards,
        id="run",
        data_key=key,
    )


def EmptyRun():
    return Div(id="run")


def ErrorCard(step, message: str, retry_url: str, key: str, revert=None):
    """What a step shows when it failed: the reason and a way forward."""
    return StepCard(
        step,
        Notice(message),
        Footer(
            Button(
                "Try again",
                autofocus=True,
                hx_get=retry_url,
                hx_vals={"key": key},
                hx_target=f"#{step.id}",
                hx_swap="outerHTML",
                type="button",
            ),
            revert,
        ),
    )


def FinalizeCard(key: str, is_finalized: bool, finalize_url: str, unfinalize_url: str):
    if is_finalized:
        body = (P("This run is finalized: its steps are locked."),
                Action("Unlock", unfinalize_url, key, cls="secondary", autofocus=True))
    else:
        body = (P("Every step is complete. Finalize to lock the run."),
                Action("Finalize", finalize_url, key, autofocus=True))
    return Article(Header(H2("Finalize")), *body, id="finalize", cls="step")
