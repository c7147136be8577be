"""Security headers over real HTTP: nosniff, referrer policy, and framing only for the box."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from newsletter.config import Settings
from newsletter.runtime import build_runtime
from newsletter.web.app import create_app
from tests.support.webserver import serve

PORTAL = "https://portal.example.gov.vn"

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


@pytest.fixture
def client(settings_factory: Callable[..., Settings], database_url: str) -> Iterator[httpx.Client]:
    """The app on a real uvicorn, with one portal allowed and one malformed origin."""
    settings = settings_factory(
        database_url=database_url,
        allowed_origins=f"{PORTAL},https://evil.example; script-src *",
    )
    runtime = build_runtime(settings)
    with serve(create_app(settings, runtime)) as http:
        yield http
    runtime.close()


def assert_not_frameable(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"].endswith("; frame-ancestors 'none'")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/", "/privacy", "/archive", "/confirm/x", "/preferences/x", "/manage", "/change-address/x"],
)
def test_pages_refuse_to_be_framed(client: httpx.Client, path: str) -> None:
    """Every page but the box says DENY and frame-ancestors 'none' (clickjacking)."""
    assert_not_frameable(client.get(path))


def test_widget_may_be_framed_by_allowed_origins_only(client: httpx.Client) -> None:
    """/widget names 'self' and the allowed portal as frame ancestors, and no X-Frame-Options."""
    response = client.get("/widget")
    assert response.status_code == 200
    assert "x-frame-options" not in response.headers
    policy = response.headers["content-security-policy"]
    assert policy.endswith(f"; frame-ancestors 'self' {PORTAL}")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_box_answer_page_may_be_framed_like_the_box(client: httpx.Client) -> None:
    """The page the framed box's form lands on is framable by the same portals."""
    response = client.post("/subscribe", data={"email": "not an address"})
    assert response.status_code == 422
    assert "x-frame-options" not in response.headers
    assert response.headers["content-security-policy"].endswith(
        f"; frame-ancestors 'self' {PORTAL}"
    )


def test_malformed_origin_cannot_inject_policy(client: httpx.Client) -> None:
    """An allowed origin holding `;` or spaces is left out of the CSP, not pasted into it."""
    policy = client.get("/widget").headers["content-security-policy"]
    assert "evil" not in policy
    assert "script-src *" not in policy


def test_token_pages_keep_no_referrer(client: httpx.Client) -> None:
    """A handler's own Referrer-Policy (no-referrer on token pages) is not overwritten."""
    response = client.get("/unsubscribe/not-a-token")
    assert response.status_code == 400
    assert response.headers["referrer-policy"] == "no-referrer"
    assert_not_frameable(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/static/widget.js"), ("GET", "/api/v1/articles"), ("GET", "/healthz")],
)
def test_every_answer_is_nosniff(client: httpx.Client, method: str, path: str) -> None:
    """Static files, API errors and ops endpoints carry nosniff and a referrer policy."""
    response = client.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]


def test_too_large_answer_carries_headers(client: httpx.Client) -> None:
    """The 413 written by the size limit, outside the routes, still gets the headers."""
    response = client.post("/confirm/x", content=b"a=" + b"b" * 20_000)
    assert response.status_code == 413
    assert_not_frameable(response)


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in policy.split("; ")}


@pytest.mark.parametrize(
    "path", ["/", "/widget", "/privacy", "/archive", "/confirm/x", "/admin/login"]
)
def test_every_page_has_a_policy_without_inline_script(client: httpx.Client, path: str) -> None:
    """Every page's CSP allows scripts and styles only from the service itself: no inline
    script, no handler attribute, no plugin, no <base> rewrite."""
    policy = directives(client.get(path))
    assert policy["script-src"] == "'self' https://bantin.example.gov.vn"
    assert policy["style-src"] == "'self' https://bantin.example.gov.vn"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"


def test_only_mail_copies_allow_inline_styles(client: httpx.Client) -> None:
    """A mail's archive copy keeps its inline styles (mail HTML needs them); scripts stay out."""
    policy = directives(client.get("/archive/1"))
    assert policy["style-src"].endswith("'unsafe-inline'")
    assert "unsafe" not in policy["script-src"]


def test_hsts_only_when_the_public_url_is_https(
    client: httpx.Client, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """HSTS goes out when NEWSLETTER_PUBLIC_URL is https, and never over plain http."""
    assert client.get("/").headers["strict-transport-security"] == "max-age=31536000"
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1:8000")
    runtime = build_runtime(settings)
    with serve(create_app(settings, runtime)) as plain:
        assert "strict-transport-security" not in plain.get("/").headers
    runtime.close()
