"""Settings: no-server defaults, NEWSLETTER_* variables, a refused default secret."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError

from newsletter.config import (
    DEFAULT_SECRET_KEY,
    Environment,
    Settings,
    load_settings,
    secret_key_problem,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("NEWSLETTER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_no_server() -> None:
    """In development the defaults are a SQLite file, a Maildir outbox and an embedded broker."""
    settings = load_settings(env="development")
    assert settings.database_url == "sqlite:///var/newsletter.db"
    assert settings.smtp_url == "maildir:var/outbox"
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert settings.uses_embedded_broker
    assert settings.timezone == "Asia/Ho_Chi_Minh"


def test_production_is_the_default_and_refuses_the_default_secret() -> None:
    """Without NEWSLETTER_ENV the service is in production and wants a real secret."""
    with pytest.raises(ValidationError, match="NEWSLETTER_SECRET_KEY"):
        load_settings()


def test_production_refuses_a_short_secret() -> None:
    """A secret shorter than 32 characters is refused at start."""
    with pytest.raises(ValidationError, match="at least 32"):
        load_settings(secret_key="short-secret")


def test_production_accepts_a_long_secret() -> None:
    """A long random secret is enough to start in production."""
    key = secrets.token_urlsafe(48)
    settings = load_settings(secret_key=key)
    assert settings.env is Environment.PRODUCTION
    assert secret_key_problem(key) is None


OLD_EXAMPLE_KEY = "change-me-to-a-long-random-string-of-48-characters"


@pytest.mark.parametrize(
    "key",
    [
        OLD_EXAMPLE_KEY,
        "please-changeme-" + secrets.token_urlsafe(24),
        "example-" + secrets.token_urlsafe(32),
        "x" * 48,
        "abcdefghij" * 4,
    ],
)
def test_production_refuses_placeholders_and_low_entropy_keys(key: str) -> None:
    """Placeholders and keys of under 20 distinct characters are refused, saying how to make one."""
    with pytest.raises(ValidationError) as caught:
        load_settings(secret_key=key)
    message = str(caught.value)
    assert "NEWSLETTER_SECRET_KEY" in message
    assert "secrets.token_urlsafe(48)" in message


def test_env_example_ships_no_key_and_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """.env.example leaves the key empty, so a copied .env cannot start in production."""
    example = Path(__file__).resolve().parents[1] / ".env.example"
    lines = example.read_text(encoding="utf-8").splitlines()
    assert "NEWSLETTER_SECRET_KEY=" in lines
    (tmp_path / ".env").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ValidationError, match="is not set"):
        Settings()


def test_cookie_forged_with_the_old_example_key_meets_no_running_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment keeping the old example key never starts: a forged cookie meets no app."""
    from newsletter.web.app import create_app_from_environment

    forged = URLSafeTimedSerializer(OLD_EXAMPLE_KEY, salt="newsletter.admin-session").dumps(
        {"uid": 1, "csrf": "forged"}
    )
    assert forged.count(".") == 2  # a well-formed session cookie, had the key been accepted
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", OLD_EXAMPLE_KEY)
    with pytest.raises(ValidationError, match="placeholder"):
        create_app_from_environment()


def test_variables_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """NEWSLETTER_* variables and a .env file both configure the service; variables win."""
    (tmp_path / ".env").write_text(
        "NEWSLETTER_ENV=development\nNEWSLETTER_SEND_RATE=12.5\nNEWSLETTER_ORG_NAME=Từ tệp\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("NEWSLETTER_ORG_NAME", "Ủy ban Nhân dân")
    monkeypatch.setenv("NEWSLETTER_FROM", "Bản tin <tin@example.vn>")
    monkeypatch.setenv("NEWSLETTER_ALLOWED_ORIGINS", "https://a.example.vn, https://b.example.vn/")
    settings = Settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.send_rate == 12.5
    assert settings.org_name == "Ủy ban Nhân dân"
    assert settings.sender_address == "tin@example.vn"
    assert settings.sender_name == "Bản tin"
    assert settings.allowed_origins == ["https://a.example.vn", "https://b.example.vn"]
    assert settings.secret_key == DEFAULT_SECRET_KEY


def test_redis_broker_is_also_the_shared_redis() -> None:
    """With a Redis broker and no separate Redis URL, shared state uses the broker's Redis."""
    settings = load_settings(env="development", broker_url="redis://127.0.0.1:6379/0")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert not settings.uses_embedded_broker


def test_bad_number_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A send rate that is not a positive number is refused with the setting's name."""
    monkeypatch.setenv("NEWSLETTER_SEND_RATE", "-3")
    with pytest.raises(ValidationError, match="send_rate"):
        load_settings(env="development")


def test_reply_to_must_be_one_plain_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """NEWSLETTER_REPLY_TO takes one bare address; a name, a list or junk is refused by name."""
    monkeypatch.setenv("NEWSLETTER_REPLY_TO", " tra-loi@example.gov.vn ")
    assert load_settings(env="development").reply_to == "tra-loi@example.gov.vn"
    for bad in ("Tra loi <tra-loi@example.gov.vn>", "a@x.vn, b@x.vn", "tra-loi", "a@b\r\nBcc: c"):
        monkeypatch.setenv("NEWSLETTER_REPLY_TO", bad)
        with pytest.raises(ValidationError, match="NEWSLETTER_REPLY_TO"):
            load_settings(env="development")
