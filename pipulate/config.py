"""Settings, read once from the environment (and `.env`) into one pydantic model.

    PIPULATE_HOST       address the server binds (127.0.0.1)
    PIPULATE_PORT       port the server listens on (5001)
    PIPULATE_DATA       folder for run state, the SQLite database (data/)
    PIPULATE_DOWNLOADS  folder for exported files and the export registry (downloads/)
    PIPULATE_PROFILE    the name that opens every run key (default)
    BOTIFY_API_BASE     Botify's API root (https://api.botify.com/v1)
    BOTIFY_API_TOKEN    the Botify token; else the first line of PIPULATE_TOKEN_FILE
    PIPULATE_TOKEN_FILE file holding the token (botify_token.txt)
    PIPULATE_DEMO_JOB_SECONDS  how long a simulated export job takes in demo mode (4)
"""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE = "https://api.botify.com/v1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPULATE_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=5001, ge=1, le=65535)
    data: Path = Path("data")
    downloads: Path = Path("downloads")
    profile: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    plugins: Path = Path("plugins")

    botify_api_base: str = Field(
        default=DEFAULT_API_BASE,
        validation_alias=AliasChoices("BOTIFY_API_BASE", "PIPULATE_BOTIFY_API_BASE"),
    )
    botify_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("BOTIFY_API_TOKEN", "PIPULATE_BOTIFY_API_TOKEN"),
    )
    token_file: Path = Path("botify_token.txt")
    demo_job_seconds: float = Field(default=4.0, ge=0)

    def botify_token(self) -> str | None:
        """The token from the environment, else the first line of the token file."""
        if self.botify_api_token and self.botify_api_token.get_secret_value().strip():
            return self.botify_api_token.get_secret_value().strip()
        try:
            first = self.token_file.read_text(encoding="utf-8").splitlines()[:1]
        except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError):
            return None
        token = first[0].strip() if first else ""
        return token or None

    @property
    def is_demo(self) -> bool:
        return self.botify_token() is None
