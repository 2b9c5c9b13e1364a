"""Checks a BQLv2 body the way Botify does, and answers the URL-count-per-depth query."""

import operator

from . import data
from .errors import ANALYSIS_NOT_FOUND, UNKNOWN_FIELD, ApiError, bad_request

PREDICATES = {"eq": operator.eq, "lt": operator.lt, "lte": operator.le,
              "gt": operator.gt, "gte": operator.ge}
QUERY_DIMENSIONS = ("depth",)
QUERY_METRICS = ("count_urls_crawl",)


def analysis_slug(body: object, org: str, project: str) -> str:
    """The analysis named by `collections`, which must exist and have finished."""
    if not isinstance(body, dict):
        raise bad_request("The BQL query must be a JSON object.")
    collections = body.get("collections")
    if not isinstance(collections, list) or not collections:
        raise bad_request("'collections' is missing: list the crawl, e.g. ['crawl.20250413'].",
                          field="collections")
    crawls = [name for name in collections if isinstance(name, str) and name.startswith("crawl.")]
    if len(crawls) != 1 or len(collections) != 1:
        raise bad_request(f"'collections' must name exactly one crawl, not {collections!r}.",
                          field="collections")
    slug = crawls[0].removeprefix("crawl.")
    analysis = data.find_analysis(org, project, slug)
    if analysis is None:
        raise ApiError(404, ANALYSIS_NOT_FOUND,
                       f"Analysis {slug!r} does not exist in {org}/{project}.")
    if analysis["status"] != "success":
        raise ApiError(404, ANALYSIS_NOT_FOUND,
                       f"Analysis {slug!r} of {org}/{project} has status {analysis['status']!r};"
                       " only finished (success) analyses can be queried or exported.")
    return slug


def query_block(body: dict) -> dict:
    """The inner `query` object, with `dimensions` and `metrics` present and no `filter` key."""
    query = body.get("query")
    if not isinstance(query, dict):
        raise bad_request("'query' is missing or not an object.", field="query")
    if "filter" in query:
        raise bad_request("Unknown key 'filter' in query: the key is 'filters'.", field="filter")
    for key in ("dimensions", "metrics"):
        if not isinstance(query.get(key), list):
            raise bad_request(f"'query.{key}' is missing or not a list.", field=key)
    return query


def field_name(item: object, slug: str) -> str:
    """The field suffix of `crawl.<slug>.<suffix>`, given as a string or a {"field": ...} object."""
    name = item.get("field") if isinstance(item, dict) else item
    prefix = f"crawl.{slug}."
    if not isinstance(name, str) or not name.startswith(prefix):
        raise ApiError(400, UNKNOWN_FIELD, f"Field {name!r} does not exist in crawl.{slug}.",
                       {"field": name})
    return name.removeprefix(prefix)


def unknown_field(slug: str, suffix: str) -> ApiError:
    name = f"crawl.{slug}.{suffix}"
    return ApiError(400, UNKNOWN_FIELD, f"Field {name!r} does not exist or cannot be used here.",
                    {"field": name})


def depth_conditions(filters: object, slug: str) -> list[tuple[str, int]]:
    """The `filters` object as (predicate, value) pairs on depth, all of which must hold."""
    if filters is None:
        return []
    if isinstance(filters, dict) and isinstance(filters.get("and"), list):
        return [pair for part in filters["and"] for pair in depth_conditions(part, slug)]
    if not isinstance(filters, dict) or "field" not in filters:
        raise bad_request(f"Cannot read the filter {filters!r}: expected field, predicate, value.",
                          field="filters")
    suffix = field_name(filters["field"], slug)
    if suffix != "depth":
        raise unknown_field(slug, suffix)
    predicate, value = filters.get("predicate"), filters.get("value")
    if predicate not in PREDICATES:
        raise bad_request(f"Unknown predicate {predicate!r}; use one of {', '.join(PREDICATES)}.",
                          field="predicate")
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"A depth filter takes an integer value, not {value!r}.", field="value")
    return [(predicate, value)]


def keeps(depth: int, conditions: list[tuple[str, int]]) -> bool:
    return all(PREDICATES[predicate](depth, value) for predicate, value in conditions)


def count_rows(org: str, project: str, body: object, *, null_depth_row: bool = False) -> list:
    """All result rows of a count query, before paging."""
    slug = analysis_slug(body, org, project)
    query = query_block(body)
    dimensions = [field_name(item, slug) for item in query["dimensions"]]
    metrics = [field_name(item, slug) for item in query["metrics"]]
    for suffix in dimensions:
        if suffix not in QUERY_DIMENSIONS:
            raise unknown_field(slug, suffix)
    for suffix in metrics:
        if suffix not in QUERY_METRICS:
            raise unknown_field(slug, suffix)
    conditions = depth_conditions(query.get("filters"), slug)

    counts = {depth: count for depth, count in data.depth_counts(org, project, slug).items()
              if keeps(depth, conditions)}
    if not dimensions:
        return [{"dimensions": [], "metrics": [sum(counts.values())] * len(metrics)}]
    rows = [{"dimensions": [depth] * len(dimensions), "metrics": [count] * len(metrics)}
            for depth, count in counts.items()]
    rows.sort(key=lambda row: sort_key(row, query.get("sort")), reverse=descending(query))
    if null_depth_row and not conditions:
        rows.append({"dimensions": [None] * len(dimensions), "metrics": [3] * len(metrics)})
    return rows


def sort_key(row: dict, sort: object) -> int:
    first = sort[0] if isinstance(sort, list) and sort and isinstance(sort[0], dict) else {}
    by_metric = first.get("type") == "metrics" or str(first.get("field")).endswith(
        ".count_urls_crawl")
    kind = "metrics" if by_metric else "dimensions"
    values = row[kind] or row["dimensions"]
    return values[0] if values else 0


def descending(query: dict) -> bool:
    sort = query.get("sort")
    first = sort[0] if isinstance(sort, list) and sort and isinstance(sort[0], dict) else {}
    return first.get("order") == "desc"
