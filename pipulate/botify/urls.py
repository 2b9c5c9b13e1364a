"""Turn the Botify web-app URL a user pastes into an org, a project and maybe an analysis.

Accepted: hosts `app.botify.com` and `analyze.botify.com`, `https://`, `http://` or no scheme,
surrounding whitespace, a trailing slash, any query string and any path after the project, e.g.

    https://app.botify.com/demo-org/small-site/
    https://app.botify.com/demo-org/small-site/crawl?analysisSlug=20250413&comparison...
    app.botify.com/demo-org/small-site/20250413-2/
    https://analyze.botify.com/demo-org/small-site/keywords/overview

Refused with `InvalidProjectURL` (a `ValueError`) and a sentence saying what is wrong: other
hosts (lookalikes included), ports, a login before the host, backslashes, whitespace inside the
URL, empty or dot path parts (`//`, `.`, `..`), percent-encoded `/` or `\\` (the path is decoded
before it is checked, so `%2e%2e` counts as `..`), and org or project names that are not slugs.

The analysis comes from the `analysisSlug` query parameter, else from a third path part shaped
like `YYYYMMDD` or `YYYYMMDD-N`. It is only a hint for preselecting a crawl, so a malformed
`analysisSlug` is ignored rather than refused.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

APP_HOST = "app.botify.com"
HOSTS = frozenset({APP_HOST, "analyze.botify.com"})
MAX_URL_LENGTH = 2048
MAX_SLUG_LENGTH = 100

_SLUG = re.compile(r"[A-Za-z0-9_.-]+")
_ANALYSIS_SLUG = re.compile(r"[0-9]{8}(?:-[0-9]+)?")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_BROKEN_SCHEME = re.compile(r"https?:(?!//)", re.IGNORECASE)
_EXAMPLE = f"https://{APP_HOST}/<org>/<project>/"


class InvalidProjectURL(ValueError):
    """The pasted text is not a Botify project URL; the message says why."""


def is_slug(text: str) -> bool:
    """True for a plain name made of letters, digits, `-`, `_` and `.`, never `.` or `..`."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_SLUG_LENGTH
        and _SLUG.fullmatch(text) is not None
        and text not in (".", "..")
    )


def is_analysis_slug(text: str) -> bool:
    """True for an analysis slug: `YYYYMMDD`, or `YYYYMMDD-N` for a later crawl that day."""
    return isinstance(text, str) and _ANALYSIS_SLUG.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """A Botify project, and the analysis the pasted URL was showing, if any."""

    org: str
    project: str
    analysis: str | None = None

    def __post_init__(self) -> None:
        _check_slug(self.org, "organisation")
        _check_slug(self.project, "project")
        if self.analysis is not None and not is_analysis_slug(self.analysis):
            raise InvalidProjectURL(
                f"{_quote(self.analysis)} is not an analysis slug (YYYYMMDD or YYYYMMDD-N)."
            )

    @property
    def canonical_url(self) -> str:
        return f"https://{APP_HOST}/{self.org}/{self.project}/"


def parse_project_url(text: str) -> ProjectRef:
    """Parse a pasted Botify URL; raise `InvalidProjectURL` saying what is wrong with it."""
    text = (text or "").strip()
    if not text:
        raise InvalidProjectURL(f"Paste a Botify project URL, such as {_EXAMPLE}.")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidProjectURL(
            f"That text is {len(text):,} characters long; a Botify project URL is much shorter."
        )
    if "\\" in text:
        raise InvalidProjectURL("That URL contains a backslash (\\); Botify URLs never do.")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidProjectURL("That URL contains a space or a control character inside it.")

    scheme = _SCHEME.match(text)
    if scheme is None and _BROKEN_SCHEME.match(text):
        raise InvalidProjectURL("That URL starts with a broken scheme; expected https://.")
    if scheme is None:
        text = "https:" + text if text.startswith("//") else "https://" + text
    elif scheme.group(1).lower() not in ("http", "https"):
        raise InvalidProjectURL(
            f"That URL starts with {scheme.group(0)}; paste an https:// address from {APP_HOST}."
        )
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InvalidProjectURL(f"That is not a URL that can be read ({exc}).") from None

    _check_host(parts.netloc)
    org, project, rest = _split_path(parts.path)
    analysis = _analysis_from_query(parts.query)
    if analysis is None and rest and is_analysis_slug(rest[0]):
        analysis = rest[0]
    return ProjectRef(org, project, analysis)


def _check_host(netloc: str) -> None:
    # The login is never quoted back: it may hold a password.
    if "@" in netloc:
        raise InvalidProjectURL(
            "That URL carries a login before the host (user@...); paste it without one."
        )
    if not netloc:
        raise InvalidProjectURL(f"That URL names no host; expected {_EXAMPLE}.")
    host, colon, port = netloc.partition(":")
    if colon and host.lower() in HOSTS:
        raise InvalidProjectURL(f"That URL names a port ({_quote(':' + port)}); Botify's has none.")
    if netloc.lower() not in HOSTS:
        raise InvalidProjectURL(f"That URL is on {_quote(netloc)}, not {APP_HOST}.")


def _split_path(path: str) -> tuple[str, str, list[str]]:
    raw = path.removeprefix("/").removesuffix("/").split("/") if path.strip("/") else []
    segments = []
    for part in raw:
        decoded = unquote(part)
        if not decoded:
            raise InvalidProjectURL("That URL has an empty part (//) in its path.")
        if decoded in (".", ".."):
            raise InvalidProjectURL(f"That URL has a {_quote(decoded)} part in its path.")
        if "/" in decoded or "\\" in decoded:
            raise InvalidProjectURL(
                f"That URL hides a slash or backslash in its path part {_quote(part)}."
            )
        segments.append(decoded)

    if not segments:
        raise InvalidProjectURL(f"That URL names no organisation or project; expected {_EXAMPLE}.")
    if len(segments) == 1:
        raise InvalidProjectURL(
            f"That URL names the organisation {_quote(segments[0])} but no project; "
            f"expected https://{APP_HOST}/{segments[0]}/<project>/."
        )
    _check_slug(segments[0], "organisation")
    _check_slug(segments[1], "project")
    return segments[0], segments[1], segments[2:]


def _analysis_from_query(query: str) -> str | None:
    values = parse_qs(query).get("analysisSlug", [])
    return next((value for value in values if is_analysis_slug(value)), None)


def _check_slug(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidProjectURL(f"The {what} name is missing.")
    if len(value) > MAX_SLUG_LENGTH:
        raise InvalidProjectURL(
            f"The {what} name {_quote(value)} is longer than {MAX_SLUG_LENGTH} characters."
        )
    if not is_slug(value):
        raise InvalidProjectURL(
            f"{_quote(value)} is not a valid {what} name: "
            "use letters, digits, '-', '_' and '.' only."
        )


def _quote(value: str, limit: int = 40) -> str:
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in shown)
    return f'"{shown}"'
