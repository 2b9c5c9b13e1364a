"""Choose the deepest click depth whose URLs fit in one export.

An export filtered `depth lte D` holds every URL at depths up to D, so the plan sums the counts
by depth and keeps the deepest depth whose running total stays at or under the cap (one export
holds at most 1,000,000 rows by default).

Input is what the client returns, a `dict[int, int]`, or any iterable of `(depth, count)` pairs,
read tolerantly:

- a depth may be an int, an integral float (`3.0`) or a string of digits (`"3"`, `" 3 "`);
  anything else (`None`, `"3a"`, `2.5`, `True`) and negative depths are skipped: a row without a
  whole, non-negative depth can never match `depth lte D`, so it never counts toward an export;
- a depth given twice has its counts summed;
- a count must be a whole number of URLs, zero or more (int, integral float or digit string);
  anything else raises `ValueError`, since skipping it would understate the export's size;
- gaps are fine: only the depths present appear in the plan, and the running total starts at
  the first depth present.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

EXPORT_ROW_CAP = 1_000_000


@dataclass(frozen=True, slots=True)
class DepthRow:
    """URLs found at one depth, and at that depth and every shallower one."""

    depth: int
    count: int
    cumulative: int


@dataclass(frozen=True, slots=True)
class DepthPlan:
    """Depths sorted shallowest first, and the deepest one an export can safely reach."""

    rows: tuple[DepthRow, ...]
    safe_depth: int | None
    cap: int
    total: int

    @property
    def allowed_depths(self) -> list[int]:
        """Every depth present that an export may be filtered to, shallowest first."""
        if self.safe_depth is None:
            return []
        return [row.depth for row in self.rows if row.depth <= self.safe_depth]

    @property
    def safe_count(self) -> int | None:
        """Rows an export down to `safe_depth` would hold."""
        return self.count_through(self.safe_depth) if self.safe_depth is not None else None

    def count_through(self, depth: int) -> int:
        """URLs at `depth` and every shallower depth present."""
        return sum(row.count for row in self.rows if row.depth <= depth)

    @property
    def reason(self) -> str:
        """One sentence for the page: why the safe depth is what it is."""
        cap = f"{self.cap:,} rows one export can hold"
        if not self.rows:
            return "The crawl reported no URL counts by depth, so there is nothing to export."
        first = self.rows[0]
        if self.safe_depth is None:
            return f"Depth {first.depth} alone holds {first.count:,} URLs, more than the {cap}."
        if self.safe_depth == self.rows[-1].depth:
            return (
                f"All {self.total:,} URLs, down to depth {self.safe_depth}, fit within the {cap}."
            )
        deeper = next(row for row in self.rows if row.depth > self.safe_depth)
        return (
            f"Depths {first.depth} to {self.safe_depth} hold {self.safe_count:,} URLs; "
            f"adding depth {deeper.depth} would make {deeper.cumulative:,}, "
            f"more than the {cap}."
        )


def plan_depth(
    counts: Mapping[object, object] | Iterable[tuple[object, object]],
    cap: int = EXPORT_ROW_CAP,
) -> DepthPlan:
    """Sum URL counts by depth and find the deepest depth whose total fits within `cap`."""
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ValueError(f"The row cap must be a whole number of at least 1, not {cap!r}.")
    pairs = counts.items() if isinstance(counts, Mapping) else counts

    by_depth: dict[int, int] = {}
    for raw_depth, raw_count in pairs:
        depth = _whole_number(raw_depth)
        if depth is None:
            continue
        count = _whole_number(raw_count)
        if count is None:
            raise ValueError(
                f"Depth {depth} has {raw_count!r} URLs, which is not a whole number "
                "of zero or more."
            )
        by_depth[depth] = by_depth.get(depth, 0) + count

    rows = []
    cumulative = 0
    safe_depth = None
    for depth in sorted(by_depth):
        cumulative += by_depth[depth]
        rows.append(DepthRow(depth, by_depth[depth], cumulative))
        if cumulative <= cap:
            safe_depth = depth
    # Counts are never negative, so once the total passes the cap it stays past it.
    return DepthPlan(tuple(rows), safe_depth, cap, cumulative)


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    else:
        return None
    return number if number >= 0 else None
