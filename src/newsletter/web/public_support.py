"""What the public pages share: templates, the subscribe limits, body parsing, CORS, answers."""

from __future__ import annotations

import hashlib
import html
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment
from starlette.datastructures import UploadFile

from newsletter.config import Settings
from newsletter.mail.environment import create_environment
from newsletter.signing import TokenError
from newsletter.subscribers.ip_limit import SubscribeLimiter, create_subscribe_limiter

# Pages that carry a token in their URL: never cached, never leaked through Referer.
TOKEN_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
MAX_FIELD_VALUES = 100
# Subscribe requests writing at once, per process: SQLAlchemy's default pool_size. Past
# the pool, each further connection is opened and closed again for a single request (a
# PostgreSQL backend forked each time), which under load cost more than the request.
STORE_CONCURRENCY = 5


@dataclass
class PublicState:
    """Built once per app by `build`; closed by the app's lifespan."""

    settings: Settings
    env: Environment
    limiter: SubscribeLimiter
    consent_text: str = ""
    consent_version: str = ""
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    store_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(STORE_CONCURRENCY)
    )

    @classmethod
    def build(cls, settings: Settings) -> PublicState:
        env = create_environment(settings)
        # The consent sentence is a template (portals may reword it); its plain text is
        # stored with every consent event and its hash names the version.
        rendered = env.get_template("web/_consent.html").render()
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", rendered)).split())
        version = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        return cls(
            settings=settings,
            env=env,
            # Under REDIS_PREFIX like every other key, so installations sharing a Redis
            # (and parallel test runs) never count each other's requests.
            limiter=create_subscribe_limiter(settings, prefix=settings.redis_prefix),
            consent_text=text,
            consent_version=version,
            allowed_origins=frozenset(o.rstrip("/") for o in settings.allowed_origins),
        )

    def close(self) -> None:
        self.limiter.close()

    def page(
        self,
        template: str,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status_code, headers=headers)

    def message_page(
        self,
        heading: str,
        message: str,
        *,
        status_code: int = 200,
        is_error: bool = False,
        offer_subscribe: bool = False,
        preferences_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return self.page(
            "web/message.html",
            status_code=status_code,
            headers=headers,
            heading=heading,
            message=message,
            is_error=is_error,
            offer_subscribe=offer_subscribe,
            preferences_url=preferences_url,
        )

    def cors_headers(self, request: Request) -> dict[str, str]:
        """CORS headers for an allowed Origin; none (the browser then blocks) otherwise."""
        origin = request.headers.get("origin", "").rstrip("/")
        if origin and origin in self.allowed_origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}


def public_state(request: Request) -> PublicState:
    state: PublicState = request.app.state.public
    return state


def client_ip(request: Request) -> str:
    # Behind a reverse proxy, run uvicorn with --proxy-headers/--forwarded-allow-ips so
    # that this is the resident's address, not the proxy's (see docs/widget.md).
    return request.client.host if request.client else "unknown"


def wants_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/json"


class BadBodyError(ValueError):
    """The request body could not be read as a form or a JSON object."""


async def read_fields(request: Request) -> dict[str, list[str]]:
    """Form (urlencoded or multipart) or JSON object fields as lists of strings."""
    fields: dict[str, list[str]] = {}
    if wants_json(request):
        try:
            data = await request.json()
        except ValueError as exc:
            raise BadBodyError("invalid JSON") from exc
        except RecursionError as exc:  # json.loads on "[[[[…": nested past Python's stack
            raise BadBodyError("JSON nested too deeply") from exc
        if not isinstance(data, dict):
            raise BadBodyError("JSON body must be an object")
        for key, value in data.items():
            values = value if isinstance(value, list) else [value]
            if value is None:
                values = []
            if not all(isinstance(v, str) for v in values):
                raise BadBodyError(f"field {key!r} must be a string or a list of strings")
            fields[str(key)] = [str(v) for v in values]
    else:
        async with request.form(max_files=0, max_fields=MAX_FIELD_VALUES) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    raise BadBodyError("file uploads are not accepted")
                fields.setdefault(key, []).append(value)
    if sum(len(v) for v in fields.values()) > MAX_FIELD_VALUES:
        raise BadBodyError("too many fields")
    return fields


def first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def json_answer(
    payload: dict[str, Any], *, status_code: int, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(payload, status_code=status_code, headers=headers)


def bad_link_page(state: PublicState, error: TokenError | None = None) -> Response:
    """The answer to a resident's link that is broken, forged or expired (400)."""
    if error is not None and error.expired:
        message = "Liên kết xác nhận đã hết hạn. Vui lòng đăng ký lại để nhận liên kết mới."
    else:
        message = (
            "Liên kết không hợp lệ hoặc không còn hiệu lực. Hãy kiểm tra rằng bạn đã mở đúng "
            "và đủ liên kết trong thư, hoặc đăng ký lại."
        )
    return state.message_page(
        "Liên kết không hợp lệ", message, status_code=400, is_error=True, offer_subscribe=True,
        headers=TOKEN_PAGE_HEADERS,
    )  # fmt: skip


def not_found_page(state: PublicState) -> Response:
    """The answer to a valid link whose subscriber is gone (erased): 404."""
    return state.message_page(
        "Không tìm thấy đăng ký",
        "Không còn đăng ký nào gắn với liên kết này (có thể dữ liệu đã được xóa).",
        status_code=404, is_error=True, offer_subscribe=True, headers=TOKEN_PAGE_HEADERS,
    )  # fmt: skip
