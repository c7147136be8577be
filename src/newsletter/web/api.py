"""The `/api/v1` router: every route needs `Authorization: Bearer TOKEN` (see api_auth)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from newsletter.content.articles import (
    ArticleInput,
    ArticleRejectedError,
    CategoryIndex,
    Outcome,
    UpsertResult,
    parse_datetime,
    upsert_article,
)
from newsletter.models import Article
from newsletter.web.api_alerts import alert_after_commit
from newsletter.web.api_auth import ArticlesWriteScope, ReadScope, require_api_token
from newsletter.web.deps import SessionDep, SettingsDep
from newsletter.web.limits import API_MAX_BYTES

MAX_BATCH = 1000


def _iso_only(value: object) -> object:
    """Refuse what pydantic would read as Unix time: the API documents ISO 8601 only."""
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-11-20T08:00:00+07:00")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only)]


class Problem(BaseModel):
    detail: str


class ArticleIn(BaseModel):
    """One article as the CMS publishes it. `summary` is HTML; it is reduced to a safe subset."""

    model_config = ConfigDict(extra="forbid")

    guid: str | None = Field(None, max_length=2000, description="Stable id; else the URL is")
    url: str = Field(max_length=2000, description="Absolute http(s) URL of the article")
    title: str = Field(min_length=1, max_length=2000)
    summary: str = Field("", max_length=100_000)
    image_url: str | None = Field(None, max_length=2000)
    author: str | None = Field(None, max_length=300)
    category: str | None = Field(None, description="Category slug or name")
    categories: list[str] = Field(default_factory=list, max_length=20)
    published_at: IsoDateTime | None = Field(
        None, description="Without an offset: NEWSLETTER_TIMEZONE; absent: the time received"
    )

    def to_input(self, timezone: ZoneInfo) -> ArticleInput:
        """ArticleRejectedError for a date that is no usable moment (the one date rule:
        content.articles.parse_datetime, naive meaning NEWSLETTER_TIMEZONE)."""
        labels = ([self.category] if self.category else []) + self.categories
        return ArticleInput(
            guid=self.guid,
            url=self.url,
            title=self.title,
            summary=self.summary,
            image_url=self.image_url,
            author=self.author,
            categories=tuple(labels),
            published_at=parse_datetime(self.published_at, timezone=timezone),
        )


class RejectedItem(BaseModel):
    index: int = Field(description="Position of the item in the pushed list (0 for one article)")
    error: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Unprocessable(BaseModel):
    """A 422: FastAPI's field errors, the items the store refused, or one sentence."""

    detail: list[FieldError] | list[RejectedItem] | str


UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: {"model": Unprocessable, "description": "The request cannot be used"}
}


def api_router() -> APIRouter:
    """A router under /api/v1: a bearer token required, the shared answers documented.

    One definition for every API module (articles, campaigns, subscribers, bounces), so
    their prefix, authentication and documented errors cannot drift apart.
    """
    return APIRouter(
        prefix="/api/v1",
        dependencies=[Depends(require_api_token)],
        responses={
            401: {"model": Problem, "description": "Missing, unknown or revoked token"},
            403: {"model": Problem, "description": "The token lacks this route's scope"},
            413: {
                "model": Problem,
                "description": f"Body over {API_MAX_BYTES // 2**20} MiB: send smaller requests",
            },
            **UNPROCESSABLE,
        },
    )


router = api_router()


class ArticleOut(BaseModel):
    id: int
    guid: str
    outcome: Outcome


class IngestOut(BaseModel):
    new: int
    updated: int
    unchanged: int
    articles: list[ArticleOut]


ArticlesBody = Annotated[
    ArticleIn | Annotated[list[ArticleIn], Field(min_length=1, max_length=MAX_BATCH)],
    Body(),
]


@router.post(
    "/articles",
    tags=["articles"],
    response_model=IngestOut,
    dependencies=[ArticlesWriteScope],
    responses={400: {"model": Problem, "description": "The body is not JSON"}, **UNPROCESSABLE},
)
def push_articles(
    body: ArticlesBody,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> IngestOut:
    """Store one article or a list; a re-push (same guid, else URL) updates, never duplicates.

    All or nothing: when any item is rejected the answer is 422 naming each bad item
    by its index, and nothing is stored.
    """
    items = body if isinstance(body, list) else [body]
    timezone = ZoneInfo(settings.timezone)
    categories = CategoryIndex.load(session)
    results: list[UpsertResult] = []
    problems: list[dict[str, object]] = []
    for index, item in enumerate(items):
        try:
            results.append(
                upsert_article(session, article=item.to_input(timezone), categories=categories)
            )
        except ArticleRejectedError as exc:
            problems.append({"index": index, "error": str(exc)})
    if problems:
        raise HTTPException(422, detail=problems)
    if any(r.outcome is Outcome.NEW for r in results):
        alert_after_commit(request, background)  # one alert for the push's new articles
    return IngestOut(
        new=sum(r.outcome is Outcome.NEW for r in results),
        updated=sum(r.outcome is Outcome.UPDATED for r in results),
        unchanged=sum(r.outcome is Outcome.UNCHANGED for r in results),
        articles=[ArticleOut(id=r.article_id, guid=r.guid, outcome=r.outcome) for r in results],
    )


class ArticleView(BaseModel):
    id: int
    guid: str
    url: str
    title: str
    summary: str
    image_url: str | None
    author: str | None
    category: str | None = Field(description="Category slug")
    published_at: dt.datetime


@router.get(
    "/articles",
    tags=["articles"],
    response_model=list[ArticleView],
    responses=UNPROCESSABLE,
    dependencies=[ReadScope],
)
def list_articles(
    session: SessionDep,
    since: Annotated[
        IsoDateTime | None, Query(description="Only articles published at or after this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ArticleView]:
    """The newest stored articles (what the next digest draws from), newest first."""
    query = select(Article).order_by(Article.published_at.desc(), Article.id.desc()).limit(limit)
    if since is not None:
        if since.tzinfo is None:
            raise HTTPException(422, detail="since needs a UTC offset, e.g. 2026-11-20T00:00:00Z")
        query = query.where(Article.published_at >= since)
    return [
        ArticleView(
            id=a.id,
            guid=a.guid,
            url=a.url,
            title=a.title,
            summary=a.summary,
            image_url=a.image_url,
            author=a.author,
            category=a.category.slug if a.category else None,
            published_at=a.published_at,
        )
        for a in session.scalars(query.options(joinedload(Article.category)))
    ]
