"""Areas (khu vực): the wards and communes residents choose and bulletins target."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models.base import Base, BigId, utcnow

subscriber_areas = Table(
    "subscriber_areas",
    Base.metadata,
    Column(
        "subscriber_id", BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "area_id", Integer, ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

campaign_areas = Table(
    "campaign_areas",
    Base.metadata,
    Column("campaign_id", BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", Integer, ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)


class Area(Base):
    """A phường, xã or any area inside the portal's territory; may sit inside a parent."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Area(id={self.id!r}, code={self.code!r})"
