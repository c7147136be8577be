"""Roles of officials and scopes of API tokens: who may do what.

Roles are ordered; each includes the ones before it:
- viewer: reads the dashboard, campaigns and subscriber counts;
- editor: drafts, edits, previews and test-sends bulletins;
- approver: approves, sends, schedules, pauses, resumes and cancels;
- admin: officials, API tokens, subscribers' data; and everything else.

API token scopes are a set: `read`, `articles:write`, `bulletins:draft`, `bulletins:send`
(which includes `bulletins:draft`: a token that may send may also write the draft).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    EDITOR = 2
    APPROVER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named `text`; ValueError naming the choices otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown role {text!r}: choose one of {', '.join(ROLE_NAMES)}"
            ) from None


ROLE_NAMES = tuple(role.label for role in Role)
DEFAULT_ROLE = Role.ADMIN  # `admin create-user` without --role, as before roles existed


def role_of(stored: str | None) -> Role:
    """The role of a stored value; an unknown value counts as the least (never more)."""
    try:
        return Role.parse(stored or "")
    except ValueError:
        return Role.VIEWER


class Scope:
    READ = "read"
    ARTICLES_WRITE = "articles:write"
    BULLETINS_DRAFT = "bulletins:draft"
    BULLETINS_SEND = "bulletins:send"


ALL_SCOPES = (Scope.READ, Scope.ARTICLES_WRITE, Scope.BULLETINS_DRAFT, Scope.BULLETINS_SEND)
# A scope and the ones it includes.
_IMPLIED = {Scope.BULLETINS_SEND: (Scope.BULLETINS_DRAFT,)}


def parse_scopes(values: Iterable[str]) -> frozenset[str]:
    """The scopes asked for; none asked means all of them. ValueError for an unknown one."""
    asked = [value.strip() for value in values if value.strip()]
    if not asked:
        return frozenset(ALL_SCOPES)
    unknown = sorted(set(asked) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(
            f"unknown scope {', '.join(map(repr, unknown))}: choose from {', '.join(ALL_SCOPES)}"
        )
    return frozenset(asked)


def stored_scopes(scopes: Iterable[str]) -> str:
    """The column's text: the scopes in their documented order, space-separated."""
    chosen = set(scopes)
    return " ".join(scope for scope in ALL_SCOPES if scope in chosen)


def granted_scopes(stored: str) -> frozenset[str]:
    """What a token may do: its stored scopes and the ones they include."""
    granted = {scope for scope in stored.split() if scope in ALL_SCOPES}
    for scope in list(granted):
        granted.update(_IMPLIED.get(scope, ()))
    return frozenset(granted)
