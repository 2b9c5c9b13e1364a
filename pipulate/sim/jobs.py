"""Export jobs that need no storage: the job id itself encodes everything about the job.

A restarted simulator therefore still knows every job it ever created, and answers its status
from the clock alone: CREATED for the first tenth of `job_seconds`, PROCESSING until
`job_seconds` have passed, then DONE (or FAILED when the job was created under `fail_jobs`).
"""

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from . import bql, data
from .errors import PERMISSION_DENIED, PROJECT_NOT_FOUND, QUERY_TOO_BIG, ApiError, bad_request

EXPORT_CAP = 1_000_000
LINK_LIFETIME = 24 * 3600
# Not a secret: it only lets the simulator tell its own ids and links from garbage.
SIGNING_KEY = b"pipulate-sim"

COLUMNS = {
    "url": "Full URL",
    "metadata.title.content": "Title",
    "metadata.description.content": "Meta Description",
    "metadata.h1.contents": "metadata-h1-contents",
    "depth": "Depth",
}
FIELDS = tuple(COLUMNS)
COMPRESSIONS = ("gzip", "zip")
# A gzip made of stored (uncompressed) deflate blocks, as large as the CSV: for tests that need
# a big compressed body. Chosen by the `stored_gzip` fault, never by a payload.
STORED_GZIP = "gzip-stored"


@dataclass(frozen=True)
class ExportJob:
    org: str
    project: str
    analysis: str
    fields: tuple[str, ...]
    conditions: tuple[tuple[str, int], ...]
    compression: str
    print_header: bool
    print_delimiter: bool
    export_size: int
    created: float
    will_fail: bool

    @property
    def job_id(self) -> str:
        raw = json.dumps(
            [self.org, self.project, self.analysis, [FIELDS.index(name) for name in self.fields],
             self.conditions,
             self.compression, int(self.print_header), int(self.print_delimiter),
             self.export_size, round(self.created * 1000), int(self.will_fail)],
            separators=(",", ":"),
        ).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + _checksum(raw)

    @classmethod
    def from_id(cls, job_id: str) -> "ExportJob | None":
        """The job a simulator created with this id, or None for any other string."""
        encoded, checksum = job_id[:-8], job_id[-8:]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            if not hmac.compare_digest(_checksum(raw), checksum):
                return None
            (org, project, analysis, fields, conditions, compression, header, delimiter,
             size, created_ms, fail) = json.loads(raw)
            fields = tuple(FIELDS[index] for index in fields)
        except (binascii.Error, ValueError, TypeError, IndexError):
            return None
        return cls(org, project, analysis, fields,
                   tuple((predicate, value) for predicate, value in conditions), compression,
                   bool(header), bool(delimiter), size, created_ms / 1000, bool(fail))

    @property
    def depth_counts(self) -> dict[int, int]:
        counts = data.depth_counts(self.org, self.project, self.analysis)
        return {depth: count for depth, count in counts.items()
                if bql.keeps(depth, list(self.conditions))}

    @property
    def nb_lines(self) -> int:
        return min(sum(self.depth_counts.values()), self.export_size)

    @property
    def content_key(self) -> str:
        """Equal for jobs whose files are byte for byte the same."""
        parts = [self.org, self.project, self.analysis, self.fields, self.conditions,
                 self.compression, self.print_header, self.print_delimiter, self.export_size]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]

    @property
    def filename(self) -> str:
        day = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%d")
        return f"botify-{day}.zip" if self.compression == "zip" else f"botify-{day}.csv.gz"

    def status(self, now: float, job_seconds: float) -> str:
        elapsed = now - self.created
        if elapsed < job_seconds / 10:
            return "CREATED"
        if elapsed < job_seconds:
            return "PROCESSING"
        return "FAILED" if self.will_fail else "DONE"

    def link_expiry(self, job_seconds: float) -> int:
        return int(self.created + job_seconds + LINK_LIFETIME)

    def payload(self) -> dict:
        """The payload this job was created with, rebuilt from the id."""
        prefix = f"crawl.{self.analysis}."
        filters = [{"field": prefix + "depth", "predicate": predicate, "value": value}
                   for predicate, value in self.conditions]
        query = {
            "dimensions": [prefix + name for name in self.fields],
            "metrics": [],
            "sort": [{"index": 0, "type": "dimensions", "order": "asc"}],
        }
        if filters:
            query["filters"] = filters[0] if len(filters) == 1 else {"and": filters}
        payload = {
            "username": self.org,
            "project": self.project,
            "connector": "direct_download",
            "formatter": "csv",
            "export_size": self.export_size,
            "formatter_config": {"print_header": self.print_header,
                                 "print_delimiter": self.print_delimiter},
            "query": {"collections": [f"crawl.{self.analysis}"], "query": query},
        }
        if self.compression == "zip":
            payload["extra_config"] = {"filetype": "zip"}
        return payload


def signature(job_id: str, expires: int) -> str:
    message = f"{job_id}:{expires}".encode()
    return hmac.new(SIGNING_KEY, message, hashlib.sha256).hexdigest()[:32]


def _checksum(raw: bytes) -> str:
    return hmac.new(SIGNING_KEY, raw, hashlib.sha256).hexdigest()[:8]


def check_project(org: str, project: str) -> None:
    if (org, project) in data.FORBIDDEN_PROJECTS:
        raise ApiError(403, PERMISSION_DENIED,
                       f"You do not have permission to access {org}/{project}.")
    if (org, project) not in data.SITES:
        raise ApiError(404, PROJECT_NOT_FOUND, f"Project {org}/{project} does not exist.")


def parse_export(body: object, *, now: float, will_fail: bool,
                 stored_gzip: bool = False) -> ExportJob:
    """The job a POST /v1/jobs body asks for; ApiError names what is missing or wrong."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    if body.get("job_type") != "export":
        raise bad_request(f"'job_type' must be 'export', not {body.get('job_type')!r}.",
                          field="job_type")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise bad_request("'payload' is missing or not an object.", field="payload")
    for key in ("username", "project", "connector", "formatter", "query"):
        if key not in payload:
            raise bad_request(f"'payload.{key}' is missing.", field=key)
    if payload["connector"] != "direct_download":
        raise bad_request(f"Connector {payload['connector']!r} is not simulated; "
                          "use 'direct_download'.", field="connector")
    if payload["formatter"] != "csv":
        raise bad_request(f"Formatter {payload['formatter']!r} is not simulated; use 'csv'.",
                          field="formatter")
    size = payload.get("export_size", EXPORT_CAP)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise bad_request(f"'export_size' must be a positive integer, not {size!r}.",
                          field="export_size")
    if size > EXPORT_CAP:
        raise ApiError(400, QUERY_TOO_BIG, f"'export_size' {size} exceeds the plan's cap of "
                       f"{EXPORT_CAP:,} rows.", {"field": "export_size"})
    org, project = payload["username"], payload["project"]
    if not isinstance(org, str) or not isinstance(project, str):
        raise bad_request("'username' and 'project' must be strings.", field="username")
    check_project(org, project)

    slug = bql.analysis_slug(payload["query"], org, project)
    query = bql.query_block(payload["query"])
    fields = tuple(bql.field_name(item, slug) for item in query["dimensions"])
    if not fields:
        raise bad_request("'query.dimensions' is empty: list the fields to export.",
                          field="dimensions")
    for name in fields:
        if name not in COLUMNS:
            raise bql.unknown_field(slug, name)
    if query["metrics"]:
        raise bad_request("Exports of metrics are not simulated: 'metrics' must be [].",
                          field="metrics")
    conditions = tuple(bql.depth_conditions(query.get("filters"), slug))

    formatter_config = payload.get("formatter_config") or {}
    if not isinstance(formatter_config, dict):
        raise bad_request("'formatter_config' must be an object.", field="formatter_config")
    compression = _compression(payload.get("extra_config"))
    if stored_gzip and compression == "gzip":
        compression = STORED_GZIP
    return ExportJob(
        org, project, slug, fields, conditions, compression,
        bool(formatter_config.get("print_header", True)),
        bool(formatter_config.get("print_delimiter", True)),
        size, round(now, 3), will_fail,
    )


def _compression(extra_config: object) -> str:
    if extra_config is None:
        return "gzip"
    if not isinstance(extra_config, dict):
        raise bad_request("'extra_config' must be an object.", field="extra_config")
    value = extra_config.get("filetype", extra_config.get("compression", "gzip"))
    value = {"csv.gz": "gzip", "gz": "gzip"}.get(value, value)
    if value not in COMPRESSIONS:
        raise bad_request(f"Unknown file type {value!r}; use 'gzip' or 'zip'.",
                          field="extra_config")
    return value


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
