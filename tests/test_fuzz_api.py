"""Schemathesis against /openapi.json over real HTTP: no 5xx, answers match the schema.

Every operation in the schema is fuzzed with valid and invalid data (schemathesis'
positive and negative modes) through a real uvicorn, with a valid API token. The number
of cases per operation is NEWSLETTER_FUZZ_EXAMPLES (default below, a few thousand cases
for the whole file in about a minute on a 2-core machine); raise it for a longer hunt:

    NEWSLETTER_FUZZ_EXAMPLES=5000 .venv/bin/pytest tests/test_fuzz_api.py
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from newsletter.accounts.api_tokens import create_api_token
from newsletter.config import Settings
from newsletter.content.categories import add_category
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.runtime import build_runtime
from newsletter.signing import Purpose, make_resident_token, make_token
from newsletter.web.app import create_app
from tests.support.webserver import WebServer


@schemathesis.serializer("message/rfc822")
def _raw_message(_ctx: object, value: object) -> bytes:
    """POST /api/v1/bounces takes a raw message: send whatever was generated, as bytes."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


FUZZ_EXAMPLES = int(os.environ.get("NEWSLETTER_FUZZ_EXAMPLES", "400"))
# A schema-valid article can still be refused by the store (a relative URL, an unknown
# category): the schema cannot say everything, so "valid data must be accepted" is off.
EXCLUDED_CHECKS = [positive_data_acceptance]


@dataclass(frozen=True)
class FuzzTarget:
    url: str
    headers: dict[str, str]


@pytest.fixture
def fuzz_target(
    settings_factory: Callable[..., Settings], database_url: str
) -> Iterator[FuzzTarget]:
    """The whole app on a real uvicorn, a category to file articles under, an API token."""
    runtime = build_runtime(settings_factory(database_url=database_url))
    with runtime.sessions.begin() as session:
        add_category(session, slug="thong-bao", name="Thông báo")
        token = create_api_token(session, name="fuzz")
    server = WebServer(create_app(runtime.settings, runtime))
    server.start()
    yield FuzzTarget(url=server.url, headers={"Authorization": f"Bearer {token}"})
    server.stop()
    runtime.close()


def _fuzz(operation: APIOperation, target: FuzzTarget) -> None:
    """Run one operation's cases: valid ones and, where its inputs allow, invalid ones."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.path_parameters or operation.query or operation.body:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=target.url, headers=target.headers, excluded_checks=EXCLUDED_CHECKS
        )

    run()


def test_api_survives_fuzzing(fuzz_target: FuzzTarget) -> None:
    """Every operation answers generated valid and invalid requests without a 5xx, per schema."""
    schema = schemathesis.openapi.from_url(f"{fuzz_target.url}/openapi.json")
    # Unknown query parameters are ignored, as HTTP APIs commonly do; the token is ours to
    # send (test_api_articles covers the missing and wrong ones).
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /api/v1/articles",
        "GET /api/v1/articles",
    }
    for operation in operations:
        _fuzz(operation, fuzz_target)


# --- the residents' pages: not in the schema (HTML forms), fuzzed here by hand --------------

FIELD_NAMES = st.sampled_from(
    ["email", "name", "categories", "frequency", "website", "source", "action", "confirm_erase"]
) | st.text(max_size=10)
FIELD_VALUES = st.text(max_size=60) | st.sampled_from(
    [
        "ten@example.vn",
        "thong-bao",
        "export",
        "erase",
        "unsubscribe",
        "resubscribe",
        "yes",
        "hang-ngay",
        "ngay-khi-co",
    ]
)
JSON_VALUES = FIELD_VALUES | st.lists(FIELD_VALUES, max_size=3) | st.none() | st.integers()
FORMS = st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=8)
JSON_BODIES = st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=8) | st.lists(
    st.integers(), max_size=2
)
PUBLIC_EXAMPLES = max(FUZZ_EXAMPLES // 4, 20)


@pytest.fixture
def public_target(
    settings_factory: Callable[..., Settings], database_url: str
) -> Iterator[tuple[httpx.Client, Settings, list[logging.LogRecord]]]:
    """The public site with one active subscriber; yields (client, settings, server errors)."""
    settings = settings_factory(database_url=database_url, subscribe_rate_limit=100_000)
    runtime = build_runtime(settings)
    with runtime.sessions.begin() as session:
        add_category(session, slug="thong-bao", name="Thông báo")
        session.add(Subscriber(email="an@example.vn", status=SubscriberStatus.ACTIVE))
    errors = _ErrorRecords()
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(errors)
    server = WebServer(create_app(settings, runtime))
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client, settings, errors.records
    finally:
        server.stop()
        server_log.removeHandler(errors)
        runtime.close()


class _ErrorRecords(logging.Handler):
    """Keeps what uvicorn logs at ERROR: an exception that escaped the app."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_public_forms_survive_fuzzing(
    public_target: tuple[httpx.Client, Settings, list[logging.LogRecord]],
) -> None:
    """Any form or JSON body to /subscribe and the token pages gets a 2xx-4xx, never a crash."""
    client, app_settings, errors = public_target
    tokens = st.text(max_size=40) | st.sampled_from(
        [
            make_token(app_settings, purpose, subject)
            for purpose in Purpose
            for subject in (1, 2**40)
        ]
        + [
            make_resident_token(app_settings, purpose, subject, "k" * 32)
            for purpose in Purpose
            for subject in (1, 2**40)
        ]
    )
    paths = st.sampled_from(["/subscribe", "/confirm/", "/unsubscribe/", "/preferences/"])

    @given(path=paths, token=tokens, form=FORMS, body=JSON_BODIES, as_json=st.booleans())
    @settings(max_examples=PUBLIC_EXAMPLES, deadline=None, database=None)
    def run(path: str, token: str, form: list[tuple[str, str]], body: Any, as_json: bool) -> None:
        url = path if path == "/subscribe" else path + quote(token, safe="")
        if as_json:
            response = client.post(url, json=body)
        else:
            response = client.post(url, data=dict(form) if form else None)
        assert response.status_code < 500, (url, response.text[:500])
        if path != "/subscribe":
            assert client.get(url).status_code < 500

    run()
    assert not errors, [record.getMessage() for record in errors]


# --- regressions the fuzzing found ----------------------------------------------------------


def test_archive_id_beyond_the_integer_column_is_404(fuzz_target: FuzzTarget) -> None:
    """An archive id past the 32/64-bit column is "not found", not a driver overflow (500)."""
    with httpx.Client(base_url=fuzz_target.url) as client:
        for campaign_id in (2**31, 2**63, 10**30, -1, 0):
            assert client.get(f"/archive/{campaign_id}").status_code == 404


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize("since", ["0.71", "1700000000", "-5"])
def test_since_as_unix_time_is_refused(fuzz_target: FuzzTarget, since: str) -> None:
    """`since` is ISO 8601 as documented; a number (pydantic's Unix time) is a 422."""
    with httpx.Client(base_url=fuzz_target.url, headers=fuzz_target.headers) as client:
        response = client.get("/api/v1/articles", params={"since": since})
    assert response.status_code == 422


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_published_at_as_a_number_is_refused(fuzz_target: FuzzTarget) -> None:
    """An article's `published_at` given as a number is refused, not read as Unix time."""
    article = {"url": "https://example.gov.vn/tin/1", "title": "Tin", "published_at": 1700000000}
    with httpx.Client(base_url=fuzz_target.url, headers=fuzz_target.headers) as client:
        response = client.post("/api/v1/articles", json=article)
    assert response.status_code == 422


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_schema_documents_what_the_api_answers(fuzz_target: FuzzTarget) -> None:
    """/metrics is text, the API names 401 and its item-level 422, /readyz its 503."""
    with httpx.Client(base_url=fuzz_target.url) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert "503" in paths["/readyz"]["get"]["responses"]
    push = paths["/api/v1/articles"]["post"]["responses"]
    assert {"200", "400", "401", "422"} <= set(push)
    assert "404" in paths["/archive/{campaign_id}"]["get"]["responses"]
