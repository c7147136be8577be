"""The preferences form of a resident's link: what it asks for, read and saved.

Kept apart from the token pages (public_tokens.py), which route and answer; this module
knows the form's fields (name, categories, frequency, areas) and the one rule they share
with the subscribe box.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.content.categories import list_categories
from newsletter.models import Frequency
from newsletter.runtime import Runtime
from newsletter.subscribers.addresses import InputError, check_text
from newsletter.subscribers.areas import codes_from_fields
from newsletter.subscribers.frequency import read_frequency
from newsletter.subscribers.lifecycle import Consent
from newsletter.subscribers.preferences import subscriber_for_link, update_preferences
from newsletter.web.public_support import first

# (subscriber id, link key) from a verified resident token.
Link = tuple[int, str]


@dataclass(frozen=True)
class PreferenceChoices:
    name: str
    category_slugs: list[str]
    frequency: Frequency | None  # None: not stated, the stored one stays
    area_codes: list[str]


def read_preference_form(fields: dict[str, list[str]]) -> PreferenceChoices:
    """The form's choices; InputError (Vietnamese) for text a resident must correct."""
    name = check_text(first(fields, "name").strip(), field="name", label="Họ và tên")
    if len(name) > 200:
        raise InputError("Họ và tên dài quá 200 ký tự. Vui lòng rút gọn.", field="name")
    slugs = [
        check_text(s.strip(), field="categories", label="Chuyên mục")
        for s in fields.get("categories", [])
        if s.strip()
    ]
    frequency = read_frequency(fields)
    codes = [
        check_text(code, field="areas", label="Khu vực")
        for code in codes_from_fields(fields.get("areas", []))
    ]
    return PreferenceChoices(name, slugs, frequency, codes)


def save_preferences(
    runtime: Runtime, link: Link, choices: PreferenceChoices, consent: Consent
) -> bool:
    """Store the choices for the link's subscriber; False when the link names no one.

    CategoryError / AreaError name a choice that no longer exists; nothing changes then.
    """
    with runtime.sessions.begin() as session:
        found = subscriber_for_link(session, subscriber_id=link[0], link_key=link[1])
        if found is None:
            return False
        slugs = choices.category_slugs
        every = {c.slug for c in list_categories(session)}
        # One rule, as in the subscribe box: no category ticked means every category, and
        # so does every category ticked (categories added later included).
        if set(slugs) == every:
            slugs = []
        subscriber = update_preferences(
            session,
            subscriber_id=found.id,
            name=choices.name,
            category_slugs=slugs,
            consent=consent,
            frequency=choices.frequency,
            area_codes=choices.area_codes,
        )
        return subscriber is not None
