"""Categories (chuyên mục): the sections of the portal that residents choose among."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Category

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class CategoryError(ValueError):
    """A category could not be added; the message says why."""


def add_category(
    session: Session, *, slug: str, name: str, position: int | None = None
) -> Category:
    slug = slug.strip().lower()
    name = name.strip()
    if not SLUG_PATTERN.fullmatch(slug) or len(slug) > 64:
        raise CategoryError(
            f"invalid slug {slug!r}: use lowercase ASCII letters, digits and single hyphens "
            "(for example 'tin-tuc'), at most 64 characters"
        )
    if not name:
        raise CategoryError("a category needs a non-empty name")
    if session.scalar(select(Category.id).where(Category.slug == slug)) is not None:
        raise CategoryError(f"category {slug!r} already exists")
    if position is None:
        position = len(list_categories(session))
    category = Category(slug=slug, name=name, position=position)
    session.add(category)
    session.flush()
    return category


def list_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.position, Category.id)))


def categories_by_slug(session: Session, slugs: list[str]) -> list[Category]:
    """The categories named by `slugs`; raises CategoryError naming any unknown slug."""
    wanted = {s.strip().lower() for s in slugs if s.strip()}
    if not wanted:
        return []
    found = list(session.scalars(select(Category).where(Category.slug.in_(wanted))))
    missing = wanted - {c.slug for c in found}
    if missing:
        raise CategoryError(f"unknown categories: {', '.join(sorted(missing))}")
    return sorted(found, key=lambda c: (c.position, c.id))
