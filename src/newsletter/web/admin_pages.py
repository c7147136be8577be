"""Rendering helpers shared by the admin routers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from newsletter.mail.environment import create_environment
from newsletter.ops.dashboard import CAMPAIGN_KIND_WORDS
from newsletter.subscribers.frequency import FREQUENCY_WORDS


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _environment(request: Request) -> Environment:
    env: Environment | None = getattr(request.app.state, "admin_templates", None)
    if env is None:
        env = create_environment(request.app.state.settings)
        # Words for officials, in every admin template: "daily digest", "immediately".
        env.globals.update(kind_words=CAMPAIGN_KIND_WORDS, frequency_words=FREQUENCY_WORDS)
        request.app.state.admin_templates = env
    return env


def page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    html = (
        _environment(request).get_template(f"web/admin/{name}").render(request=request, **context)
    )
    return HTMLResponse(html, status_code=status_code)
