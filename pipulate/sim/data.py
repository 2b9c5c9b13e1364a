"""The simulator's synthetic world: projects, their analyses, and URL counts per click depth.

Everything is derived from hashes of the org, project and analysis slug, so two runs (and the
tests that import this module) see the same world. Dates count back from a fixed day rather than
from today, so slugs never change under a test.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

ANCHOR = date(2025, 4, 13)
APP_BASE = "https://app.botify.com"


@dataclass(frozen=True)
class Site:
    crawls: int
    shape: tuple[int, ...]
    jitter: float
    unfinished: dict[int, str] = field(default_factory=dict)
    same_day_as_newer: frozenset[int] = frozenset()


SITES: dict[tuple[str, str], Site] = {
    # A few thousand URLs; 33 finished crawls, so 4 pages of analyses at the default size.
    ("demo-org", "small-site"): Site(
        crawls=40,
        shape=(1, 25, 240, 900, 1400, 800, 300, 90, 20, 4),
        jitter=0.10,
        unfinished={0: "analyzing", 5: "failed", 12: "failed", 19: "crawling_paused",
                    26: "failed", 33: "failed", 38: "failed"},
        same_day_as_newer=frozenset({4, 21}),
    ),
    # Over a million URLs; depth 5 holds 877k-913k cumulative, depth 6 over 1.08M.
    ("demo-org", "big-site"): Site(
        crawls=12,
        shape=(1, 120, 4_800, 90_000, 380_000, 420_000, 210_000, 60_000, 15_000, 3_000, 400),
        jitter=0.02,
        unfinished={0: "crawling"},
    ),
    # Crawled weekly for five years: its analyses fill several pages even at 100 a page.
    ("demo-org", "weekly-site"): Site(
        crawls=260,
        shape=(1, 30, 300, 1_200, 600, 100),
        jitter=0.10,
        unfinished={0: "crawling", 57: "failed", 143: "failed"},
    ),
    # No analysis ever finished.
    ("demo-org", "empty-site"): Site(
        crawls=3,
        shape=(1, 12, 80, 150),
        jitter=0.10,
        unfinished={0: "preparing", 1: "failed", 2: "failed"},
    ),
    # A list crawl: the start pages alone exceed a million URLs.
    ("demo-org", "giant-home"): Site(
        crawls=5,
        shape=(1_200_000, 300_000, 40_000, 2_000),
        jitter=0.03,
        unfinished={0: "preparing"},
    ),
}

PROJECTS: tuple[tuple[str, str], ...] = tuple(SITES)

# Known to exist, but the simulated user may not read them (403, error code 1002).
FORBIDDEN_PROJECTS: frozenset[tuple[str, str]] = frozenset({("acme-org", "secret-site")})

USERNAME = "demo-user"


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) for the given parts."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _crawl_days(site: Site) -> list[date]:
    """The day of each crawl, newest first: weekly, some crawls sharing a day with a newer one."""
    days, day = [], ANCHOR
    for index in range(site.crawls):
        if index and index not in site.same_day_as_newer:
            day -= timedelta(days=7)
        days.append(day)
    return days


def _slugs(site: Site) -> list[str]:
    days = _crawl_days(site)
    slugs = []
    for index, day in enumerate(days):
        older_same_day = sum(1 for other in days[index + 1:] if other == day)
        base = day.strftime("%Y%m%d")
        slugs.append(base if older_same_day == 0 else f"{base}-{older_same_day + 1}")
    return slugs


def analyses(org: str, project: str) -> list[dict]:
    """Every analysis of a project, newest first, whatever its status; KeyError if unknown."""
    site = SITES[(org, project)]
    items = []
    for index, (slug, day) in enumerate(zip(_slugs(site), _crawl_days(site), strict=True)):
        status = site.unfinished.get(index, "success")
        run = int(slug.partition("-")[2] or 1)
        minutes = int(_unit(org, project, slug, "start") * 360)
        launched = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
        launched += timedelta(hours=7 * (run - 1), minutes=minutes)
        hours = 1 + int(_unit(org, project, slug, "hours") * 10)
        finished = launched + timedelta(hours=hours)
        done = status in ("success", "failed")
        items.append({
            "slug": slug,
            "name": slug,
            "friendly_name": f"Crawl of {day:%d %B %Y}",
            "url": f"{APP_BASE}/{org}/{project}/{slug}/",
            "status": status,
            "date_created": _iso(launched - timedelta(minutes=5)),
            "date_launched": _iso(launched),
            "date_finished": _iso(finished) if done else None,
            "date_last_modified": _iso(finished if done else launched + timedelta(minutes=30)),
        })
    return items


def find_analysis(org: str, project: str, slug: str) -> dict | None:
    return next((item for item in analyses(org, project) if item["slug"] == slug), None)


def depth_counts(org: str, project: str, analysis_slug: str) -> dict[int, int]:
    """URL count per click depth of one analysis; KeyError if the project or analysis is unknown."""
    site = SITES[(org, project)]
    if analysis_slug not in _slugs(site):
        raise KeyError(analysis_slug)
    counts = {}
    for depth, base in enumerate(site.shape):
        if base == 1:
            counts[depth] = 1
            continue
        factor = 1 + site.jitter * (2 * _unit(org, project, analysis_slug, depth) - 1)
        counts[depth] = max(1, round(base * factor))
    return counts
