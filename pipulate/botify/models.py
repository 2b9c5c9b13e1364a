"""What Botify answers, read into pydantic models that ignore keys they do not know.

A key the contract promises but the answer lacks raises `BadResponseError` naming that key,
through `parse`.
"""

from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import BadResponseError

__all__ = ["Analysis", "DownloadedFile", "Job", "Profile", "parse"]

JOB_DONE = "DONE"
JOB_FAILED = "FAILED"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Profile(_Answer):
    """Who the token belongs to."""

    username: str


class Analysis(_Answer):
    """One crawl of a project; only `success` analyses can be queried or exported."""

    slug: str
    name: str | None = None
    friendly_name: str | None = None
    status: str | None = None
    url: str | None = None
    date_launched: datetime | None = None
    date_finished: datetime | None = None
    date_created: datetime | None = None

    @property
    def is_success(self) -> bool:
        return self.status == "success"


class Job(_Answer):
    """An export job as `POST /v1/jobs` or `GET /v1/jobs/<id>` describes it.

    `status` is Botify's `job_status`: CREATED, then a pending value, then DONE or FAILED.
    A DONE job without a `download_url` counts as failed.
    """

    job_id: str
    # Botify documents `job_url`; without it the bare id still reaches the job.
    job_url: str | None = None
    status: str = Field(validation_alias="job_status")
    results: dict[str, Any] | None = None
    error: Any = None
    date_created: datetime | None = None

    @field_validator("job_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def ref(self) -> str:
        """What `BotifyClient.job()` takes to read this job again."""
        return self.job_url or self.job_id

    @property
    def download_url(self) -> str | None:
        url = (self.results or {}).get("download_url")
        return url if isinstance(url, str) and url else None

    @property
    def rows(self) -> int | None:
        """The row count Botify reports (`results.nb_lines`), when it reports one."""
        rows = (self.results or {}).get("nb_lines")
        return rows if isinstance(rows, int) and not isinstance(rows, bool) else None

    @property
    def is_done(self) -> bool:
        return self.status == JOB_DONE and self.download_url is not None

    @property
    def is_failed(self) -> bool:
        return self.status == JOB_FAILED or (self.status == JOB_DONE and not self.download_url)

    @property
    def is_pending(self) -> bool:
        return self.status not in (JOB_DONE, JOB_FAILED)

    @property
    def failure_reason(self) -> str:
        """Whatever Botify said about a failed job, as one sentence."""
        if self.status == JOB_DONE:
            return "Botify marked the export done but gave no download link."
        said = self.error or (self.results or {}).get("error") or self.results
        return f"Botify reported the export as failed: {_short(said)}." if said else (
            "Botify reported the export as failed without saying why."
        )


class DownloadedFile(NamedTuple):
    """A finished export on disk: its path, its size in bytes and its data rows."""

    path: Path
    size: int
    rows: int


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any, what: str) -> Model:
    """Validates `data` as `model`, turning a validation error into `BadResponseError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadResponseError(f"Botify's answer about {what} {_describe(exc)}.") from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"lacks the required key '{where}'"
    if not where:
        return "is not a JSON object"
    return f"has an unreadable '{where}' ({first['msg'].lower()})"


def _short(value: Any) -> str:
    text = value.get("message", value) if isinstance(value, dict) else value
    return " ".join(str(text).split())[:300].rstrip(".")
