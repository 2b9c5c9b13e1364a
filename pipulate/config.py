"""Settings, read once from the environment (and `.env`) into one pydantic model.

    PIPULATE_HOST       address the server binds (127.0.0.1)
    PIPULATE_PORT       port the server listens on (5001)
    PIPULATE_DATA       folder for run state, the SQLite database (data/ in the app folder)
    PIPULATE_DOWNLOADS  folder for exported files and the export registry (downloads/ likewise)
    PIPULATE_PLUGINS    folder of workflow plugins (plugins/ likewise)
    PIPULATE_PROFILE    the name that opens every run key (default)
    BOTIFY_API_BASE     Botify's API root (https://api.botify.com/v1)
    BOTIFY_API_TOKEN    the Botify token; else the first line of PIPULATE_TOKEN_FILE
    PIPULATE_TOKEN_FILE file holding the token (botify_token.txt)
    PIPULATE_DEMO_JOB_SECONDS  how long a simulated export job takes in demo mode (4)
    PIPULATE_LOG_LEVEL  DEBUG, INFO, WARNING or ERROR (INFO)

Relative paths given in settings are taken from the folder the server starts in; the defaults
live in the app folder, wherever the server is started from.
"""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE = "https://api.botify.com/v1"
APP_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPULATE_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=5001, ge=1, le=65535)
    data: Path = APP_DIR / "data"
    downloads: Path = APP_DIR / "downloads"
    profile: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    plugins: Path = APP_DIR / "plugins"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    botify_api_base: str = Field(
        default=DEFAULT_API_BASE,
        validation_alias=AliasChoices("BOTIFY_API_BASE", "PIPULATE_BOTIFY_API_BASE"),
    )
    botify_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("BOTIFY_API_TOKEN", "PIPULATE_BOTIFY_API_TOKEN"),
    )
    token_file: Path = APP_DIR / "botify_token.txt"
    demo_job_seconds: float = Field(default=4.0, ge=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value

    def botify_token(self) -> str | None:
        """The token from the environment, else the first line of the token file."""
        if self.botify_api_token and self.botify_api_token.get_secret_value().strip():
            return self.botify_api_token.get_secret_value().strip().removeprefix("Token ").strip()
        try:
            first = self.token_file.read_text(encoding="utf-8-sig").splitlines()[:1]
        except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError):
            return None
        token = first[0].strip() if first else ""
        # The header's own word, pasted along with the token, is not part of it.
        return token.removeprefix("Token ").strip() or None

    @property
    def is_demo(self) -> bool:
        return self.botify_token() is None
