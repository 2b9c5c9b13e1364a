import pytest
from pydantic import ValidationError

from pipulate.config import APP_DIR, Settings


def test_defaults_live_in_the_app_folder_and_bind_loopback():
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 5001)
    assert settings.downloads == APP_DIR / "downloads" and settings.plugins == APP_DIR / "plugins"


@pytest.mark.parametrize("content", [
    "s3cr3t-token\n# username: me\n",
    "\ufeffs3cr3t-token\n",
    "Token s3cr3t-token\n",
    "  s3cr3t-token  \r\n",
])
def test_the_token_file_gives_its_first_line_without_bom_or_header_word(tmp_path, content):
    token_file = tmp_path / "botify_token.txt"
    token_file.write_text(content, encoding="utf-8")
    settings = Settings(token_file=token_file)
    assert settings.botify_token() == "s3cr3t-token" and not settings.is_demo


def test_the_environment_token_wins_and_no_token_means_demo(tmp_path, monkeypatch):
    token_file = tmp_path / "botify_token.txt"
    token_file.write_text("from-file\n")
    monkeypatch.setenv("BOTIFY_API_TOKEN", "from-env")
    assert Settings(token_file=token_file).botify_token() == "from-env"
    monkeypatch.delenv("BOTIFY_API_TOKEN")
    token_file.write_text("\n")
    assert Settings(token_file=token_file).is_demo


def test_a_token_is_never_shown_by_the_settings(monkeypatch):
    monkeypatch.setenv("BOTIFY_API_TOKEN", "very-secret-value")
    settings = Settings()
    assert "very-secret-value" not in repr(settings) and "very-secret-value" not in str(settings)


def test_bad_settings_are_refused_by_name(monkeypatch):
    monkeypatch.setenv("PIPULATE_PORT", "abc")
    with pytest.raises(ValidationError, match="port"):
        Settings()
    monkeypatch.setenv("PIPULATE_PORT", "5001")
    monkeypatch.setenv("PIPULATE_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"
