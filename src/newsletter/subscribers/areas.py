"""Areas (khu vực): the list officials keep, and the areas a resident chooses.

A resident with no area receives every bulletin; one with areas receives the bulletins
for every area and those targeting any of theirs. Areas form a tree (a ward inside a
district): a bulletin for an area reaches the residents of that area, of every area
inside it, and of every area containing it (`related_area_ids`) — whoever chose the
district hears about a water cut in one of its wards, and whoever chose the ward hears
about the district's storm warning.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from newsletter.models import Area, Subscriber, subscriber_areas

CODE_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")
MAX_CODE = 64
MAX_NAME = 200
MAX_IMPORT_ROWS = 20_000
DEMO_AREAS = (
    ("quan-hai-chau", "Quận Hải Châu", None),
    ("phuong-hoa-binh", "Phường Hòa Bình", "quan-hai-chau"),
    ("phuong-thach-thang", "Phường Thạch Thang", "quan-hai-chau"),
    ("phuong-phuoc-ninh", "Phường Phước Ninh", "quan-hai-chau"),
    ("huyen-hoa-vang", "Huyện Hòa Vang", None),
    ("xa-hoa-phong", "Xã Hòa Phong", "huyen-hoa-vang"),
    ("xa-hoa-tien", "Xã Hòa Tiến", "huyen-hoa-vang"),
)


class AreaError(ValueError):
    """An area could not be added or found; the message (English) says why.

    `codes`: the unknown codes, for a face that answers in Vietnamese.
    """

    def __init__(self, message: str, *, codes: Collection[str] = ()) -> None:
        super().__init__(message)
        self.codes = sorted(codes)


def clean_code(code: str) -> str:
    code = code.strip().lower()
    if not CODE_PATTERN.fullmatch(code) or len(code) > MAX_CODE:
        raise AreaError(
            f"invalid area code {code[:80]!r}: use lowercase ASCII letters and digits, "
            f"joined by single '-', '_' or '.' (for example 'phuong-hoa-binh' or '20194'), "
            f"at most {MAX_CODE} characters"
        )
    return code


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise AreaError("an area needs a non-empty name")
    if len(name) > MAX_NAME:
        raise AreaError(f"area name longer than {MAX_NAME} characters")
    return name


def split_codes(value: str) -> list[str]:
    """Codes from one text: separated by ';' (as the CSV export writes), ',' or spaces."""
    return [part for part in re.split(r"[;,|\s]+", value) if part]


def add_area(session: Session, *, code: str, name: str, parent_code: str | None = None) -> Area:
    code, name = clean_code(code), _clean_name(name)
    if session.scalar(select(Area.id).where(Area.code == code)) is not None:
        raise AreaError(f"area {code!r} already exists")
    parent = _parent(session, parent_code) if parent_code else None
    area = Area(code=code, name=name, parent_id=parent.id if parent else None)
    session.add(area)
    session.flush()
    return area


def _parent(session: Session, parent_code: str) -> Area:
    code = clean_code(parent_code)
    parent = session.scalar(select(Area).where(Area.code == code))
    if parent is None:
        raise AreaError(f"unknown parent area {code!r}: add it first", codes=[code])
    return parent


@dataclass(frozen=True)
class AreaRow:
    """An area as lists show it: its parent's code and its depth in the tree."""

    code: str
    name: str
    parent_code: str | None
    depth: int


def list_areas(session: Session) -> list[AreaRow]:
    """Every area, each parent followed by its children (then by name), for lists and forms."""
    areas = list(session.scalars(select(Area)))
    by_id = {a.id: a for a in areas}
    children: dict[int | None, list[Area]] = {}
    for area in areas:
        parent = area.parent_id if area.parent_id in by_id else None
        children.setdefault(parent, []).append(area)
    rows: list[AreaRow] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for area in sorted(children.get(parent_id, []), key=lambda a: (a.name, a.code)):
            parent = by_id.get(area.parent_id) if area.parent_id else None
            rows.append(AreaRow(area.code, area.name, parent.code if parent else None, depth))
            walk(area.id, depth + 1)

    walk(None, 0)
    return rows


def areas_by_code(session: Session, codes: Iterable[str]) -> list[Area]:
    """The areas named by `codes` (repeats allowed); AreaError naming any unknown code."""
    wanted = {code.strip().lower() for code in codes if code.strip()}
    if not wanted:
        return []
    found = list(session.scalars(select(Area).where(Area.code.in_(wanted))))
    missing = wanted - {a.code for a in found}
    if missing:
        raise AreaError(f"unknown areas: {', '.join(sorted(missing))}", codes=missing)
    return sorted(found, key=lambda a: a.code)


def codes_from_fields(values: Iterable[str]) -> list[str]:
    """Area codes as a form or JSON sends them: repeated fields, each maybe several codes."""
    return [code.lower() for value in values for code in split_codes(value)]


def add_subscriber_areas(session: Session, *, subscriber_id: int, areas: list[Area]) -> None:
    """Rows for a subscriber inserted in SQL (a new address); the triggers keep the flag."""
    if areas:
        session.execute(
            insert(subscriber_areas),
            [{"subscriber_id": subscriber_id, "area_id": a.id} for a in areas],
        )


def choose_areas(session: Session, subscriber: Subscriber, codes: Iterable[str]) -> list[str]:
    """Replace the subscriber's areas (the caller holds its row locked); the codes kept.

    Codes no longer known (an area deleted since a request) are dropped, not an error:
    the request was valid when made.
    """
    wanted = {code for code in codes if code}
    areas = list(session.scalars(select(Area).where(Area.code.in_(wanted)))) if wanted else []
    subscriber.areas = sorted(areas, key=lambda a: a.code)
    return [a.code for a in subscriber.areas]


def related_area_ids(session: Session, area_ids: Collection[int]) -> set[int]:
    """The areas a bulletin for `area_ids` reaches: them, their descendants, their ancestors."""
    if not area_ids:
        return set()
    parent_of = dict(session.execute(select(Area.id, Area.parent_id)).all())
    children: dict[int, list[int]] = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    related: set[int] = set()
    stack = list(area_ids)
    while stack:  # down: every area inside
        area = stack.pop()
        if area not in related:
            related.add(area)
            stack.extend(children.get(area, []))
    for area in area_ids:  # up: every area containing it
        parent = parent_of.get(area)
        while parent is not None and parent not in related:
            related.add(parent)
            parent = parent_of.get(parent)
    return related


@dataclass
class AreaImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
        }


def import_areas(session: Session, *, rows: Iterable[dict[str, str]]) -> AreaImportResult:
    """Add or update areas from CSV rows (`code`, `name`, optional `parent`).

    Each row stands alone: a bad one is rejected with its line and reason, the others go
    on. Importing the same file again changes nothing; a changed name or parent is
    updated. A parent may be an existing area or one anywhere in the file.
    """
    result = AreaImportResult()
    accepted: dict[str, tuple[int, str, str | None]] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if line - 1 > MAX_IMPORT_ROWS:
            result.rejected.append((line, f"more than {MAX_IMPORT_ROWS} rows"))
            break
        try:
            code = clean_code(row.get("code") or "")
            name = _clean_name(row.get("name") or "")
            parent = clean_code(row["parent"]) if (row.get("parent") or "").strip() else None
        except AreaError as exc:
            result.rejected.append((line, str(exc)))
            continue
        if code in accepted:
            result.rejected.append(
                (line, f"duplicate code {code!r} (first on line {accepted[code][0]})")
            )
            continue
        if parent == code:
            result.rejected.append((line, f"area {code!r} cannot be its own parent"))
            continue
        accepted[code] = (line, name, parent)
    existing = {a.code: a for a in session.scalars(select(Area))}
    _drop_orphans(accepted, existing, result)
    parents = {code: parent for code, (_, _, parent) in accepted.items()}
    # A cycle (a inside b inside a) is rejected whole: every row on it names the loop.
    looping = [code for code in accepted if _makes_cycle(code, parents, existing)]
    for code in looping:
        result.rejected.append((accepted.pop(code)[0], f"area {code!r} would be inside itself"))
    _drop_orphans(accepted, existing, result)
    new_codes = set(accepted) - set(existing)
    for code in sorted(new_codes):
        existing[code] = Area(code=code, name=accepted[code][1])
        session.add(existing[code])
    session.flush()
    for code, (_, name, parent) in accepted.items():
        area = existing[code]
        parent_id = existing[parent].id if parent is not None else None
        changed = area.name != name or area.parent_id != parent_id
        area.name, area.parent_id = name, parent_id
        if code in new_codes:
            result.created += 1
        elif changed:
            result.updated += 1
        else:
            result.unchanged += 1
    session.flush()
    result.rejected.sort()
    return result


def _drop_orphans(
    accepted: dict[str, tuple[int, str, str | None]],
    existing: dict[str, Area],
    result: AreaImportResult,
) -> None:
    """Reject rows whose parent is neither stored nor accepted (in turn, their children)."""
    dropped = True
    while dropped:
        dropped = False
        for code, (line, _, parent) in list(accepted.items()):
            if parent is not None and parent not in accepted and parent not in existing:
                result.rejected.append((line, f"unknown parent area {parent!r}"))
                del accepted[code]
                dropped = True


def _makes_cycle(code: str, parents: dict[str, str | None], existing: dict[str, Area]) -> bool:
    by_id = {a.id: a for a in existing.values()}
    seen = {code}
    current = parents.get(code)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        if current in parents:
            current = parents[current]
        else:
            area = existing.get(current)
            parent = by_id.get(area.parent_id) if area and area.parent_id else None
            current = parent.code if parent else None
    return False


def read_area_csv(text: str) -> Iterator[dict[str, str]]:
    """Rows of a CSV text whose header names `code` and `name`; ValueError otherwise."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    names = [f.strip().lower() for f in reader.fieldnames or []]
    if "code" not in names or "name" not in names:
        raise ValueError("the CSV needs a header row with 'code', 'name' and optionally 'parent'")
    for row in reader:
        yield {(k or "").strip().lower(): (v or "") for k, v in row.items()}


def ensure_demo_areas(session: Session) -> list[str]:
    """Add the demo areas that are missing (a fictional city's wards); the codes added."""
    existing = set(session.scalars(select(Area.code)))
    added = []
    for code, name, parent in DEMO_AREAS:
        if code not in existing:
            add_area(session, code=code, name=name, parent_code=parent)
            added.append(code)
    return added
