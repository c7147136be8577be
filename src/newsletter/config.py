"""Settings: every knob of the service, read from NEWSLETTER_* variables or a .env file.

Settings are built by `load_settings()` (or `Settings(...)` in tests), never at import
time, so each test and each process can hold its own.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-secret-change-me"  # noqa: S105 - refused outside development
MIN_SECRET_KEY_LENGTH = 32
# A random key of 32 URL-safe characters has ~24 distinct ones; a hand-made one ("x" * 40,
# "aaaa...1111") has few. Below this the key is guessable or copied, so it is refused.
MIN_SECRET_KEY_DISTINCT = 20
# Words that mark a key copied from an example or a placeholder, anywhere in it. The
# value .env.example once shipped is among the refused (it contains "change-me").
PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "example", "placeholder",
                       "replaceme", "replace-me", "your-secret", "yoursecret")  # fmt: skip
KEY_RECIPE = (
    'Make one with: python -c "import secrets; print(secrets.token_urlsafe(48))" and put it '
    "in NEWSLETTER_SECRET_KEY (or set NEWSLETTER_ENV=development for a local trial)."
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class ConfigError(ValueError):
    """Raised when the settings cannot run the service; the message says what to fix."""


class Settings(BaseSettings):
    """Every setting of the contract in DESIGN.md; see README.md "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    env: Environment = Environment.PRODUCTION
    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    redis_url: str = ""
    smtp_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEFAULT_SECRET_KEY
    # Keys the suppression hashes instead of SECRET_KEY when set: the previous
    # SECRET_KEY, kept here, lets the signing key rotate without forgetting who is
    # suppressed (docs/security.md "Rotating the secret key").
    suppression_secret: str = ""
    mail_from: str = Field(
        default="Bản tin Thành phố <bantin@example.gov.vn>",
        validation_alias="NEWSLETTER_FROM",
    )

    # Branding of the portal; the defaults describe a fictional city office.
    org_name: str = "Cổng Thông tin điện tử Thành phố Hoa Sen"
    org_short_name: str = "Thành phố Hoa Sen"
    org_address: str = "Số 1 Đường Trung Tâm, Phường Hòa Bình, Thành phố Hoa Sen"
    org_phone: str = "(0200) 3 123 456"
    org_email: str = "bantin@example.gov.vn"
    org_website: str = "https://example.gov.vn"
    org_logo_url: str = ""

    timezone: str = "Asia/Ho_Chi_Minh"
    digest_schedule: str = "0 7 * * mon"
    # The daily digest of the residents who chose `hang-ngay` (cron, NEWSLETTER_TIMEZONE).
    daily_schedule: str = "0 17 * * *"
    send_rate: float = Field(default=50.0, gt=0)
    daily_cap: int = Field(default=0, ge=0)
    batch_size: int = Field(default=500, ge=1, le=5000)
    # A bulletin to more residents than this needs a second official's approval
    # (campaigns/approval.py); 0: every bulletin does.
    approval_threshold: int = Field(default=1000, ge=0)
    visibility_timeout: int = Field(default=3600, ge=60)
    # Prefix of every Redis key the service writes (broker and send budget), so several
    # installations (or test runs) can share one Redis server.
    redis_prefix: str = ""
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    templates_dir: Path | None = None

    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_key_file: Path | None = None
    dkim_ed25519_key_file: Path | None = None
    bounce_domain: str = ""
    # Where replies to bulletins go (out-of-office answers included); none: to From.
    reply_to: str = ""
    bounce_maildir: Path | None = None
    bounce_imap_url: str = ""
    bounce_soft_threshold: float = Field(default=3.0, gt=0)
    bounce_half_life_days: float = Field(default=14.0, gt=0)

    confirm_resend_hours: float = Field(default=6, ge=0)
    confirm_token_days: float = Field(default=7, gt=0)
    # Per IPv4 address or IPv6 /64: high, since one IPv4 address may be a mobile
    # carrier's NAT for thousands of residents; the per-address cap does the rest.
    subscribe_rate_limit: int = Field(default=100, ge=1)
    subscribe_address_limit: int = Field(default=5, ge=1)
    subscribe_rate_window_seconds: int = Field(default=600, ge=1)
    # Delivery rows (who got which campaign) older than this are deleted nightly;
    # campaign totals and consent events stay (docs/privacy.md).
    retention_days: int = Field(default=400, ge=1)
    # `newsletter web` processes (uvicorn workers) behind one port; above 1 needs REDIS_URL
    # so that the per-IP subscribe limit stays one count shared by every process.
    web_workers: int = Field(default=1, ge=1, le=64)
    feed_poll_minutes: int = Field(default=15, ge=1)
    # Feed polling bounds: a hostile or broken feed server costs at most this much.
    feed_timeout_seconds: float = Field(default=20.0, gt=0)
    feed_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    feed_max_redirects: int = Field(default=5, ge=0, le=20)
    # Off by default so a feed URL cannot reach the intranet (SSRF); tests and
    # single-machine setups whose CMS sits on a private address turn it on.
    feed_allow_private: bool = False

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("reply_to")
    @classmethod
    def _plain_address(cls, value: str) -> str:
        value = value.strip()
        local, at, domain = value.rpartition("@")
        if value and (
            not (at and local and "." in domain)
            or not value.isascii()
            or any(c.isspace() or c in "<>,;\"'()" for c in value)
        ):
            raise ConfigError(
                f"NEWSLETTER_REPLY_TO {value!r} must be one plain e-mail address "
                "(like tra-loi@example.gov.vn, no name or angle brackets), or empty"
            )
        return value

    @model_validator(mode="after")
    def _fill_defaults_and_check(self) -> Self:
        var = self.var_dir
        if not self.database_url:
            self.database_url = f"sqlite:///{var / 'newsletter.db'}"
        if not self.broker_url:
            # Embedded broker: kombu's SQLAlchemy transport on a SQLite file, consumed
            # by a real worker process. No server to install.
            self.broker_url = f"sqla+sqlite:///{var / 'broker.db'}"
        if not self.smtp_url:
            self.smtp_url = f"maildir:{var / 'outbox'}"
        if not self.redis_url and self.broker_url.startswith(("redis://", "rediss://")):
            self.redis_url = self.broker_url
        if self.env is Environment.PRODUCTION:
            problem = secret_key_problem(self.secret_key)
            if problem:
                raise ConfigError(f"NEWSLETTER_SECRET_KEY {problem}. {KEY_RECIPE}")
            problem = self.suppression_secret and secret_key_problem(self.suppression_secret)
            if problem:
                raise ConfigError(f"NEWSLETTER_SUPPRESSION_SECRET {problem}. {KEY_RECIPE}")
        return self

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.broker_url.startswith(("redis://", "rediss://", "amqp://"))

    @property
    def embedded_broker_file(self) -> Path | None:
        """The SQLite file of the embedded broker (`sqla+sqlite:///PATH`), else None."""
        prefix = "sqla+sqlite:///"
        if not self.broker_url.startswith(prefix):
            return None
        path = self.broker_url.removeprefix(prefix).split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def sender_address(self) -> str:
        """The bare address of NEWSLETTER_FROM (what goes between the angle brackets)."""
        value = self.mail_from
        if "<" in value and value.endswith(">"):
            return value[value.rindex("<") + 1 : -1].strip()
        return value.strip()

    @property
    def sender_name(self) -> str:
        value = self.mail_from
        if "<" in value:
            return value[: value.rindex("<")].strip().strip('"')
        return ""

    @property
    def sending_domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or urlsplit(self.public_url).hostname or ""

    def public_link(self, path: str) -> str:
        """An absolute URL on the public site for `path` (which starts with '/')."""
        return self.public_url.rstrip("/") + path


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot sign production tokens and cookies, or None when it can.

    Anyone who read the example or the source can forge admin cookies and resident links
    with a published key; a short or repetitive one can be guessed.
    """
    if not key or key == DEFAULT_SECRET_KEY:
        return "is not set (the built-in development key is refused in production)"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"must be at least {MIN_SECRET_KEY_LENGTH} characters long (it has {len(key)})"
    lowered = key.lower()
    marker = next((m for m in PLACEHOLDER_MARKERS if m in lowered), None)
    if marker is not None:
        return f"looks like a placeholder copied from an example (it contains {marker!r})"
    distinct = len(set(key))
    if distinct < MIN_SECRET_KEY_DISTINCT:
        return (
            f"is not random enough: it has {distinct} distinct characters, at least "
            f"{MIN_SECRET_KEY_DISTINCT} are required"
        )
    return None


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and .env), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
