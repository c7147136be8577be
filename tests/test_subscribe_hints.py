"""What the resident reads after subscribing: the address the mail went to, a hint for a
likely typo in its domain, and one rule for categories on every page."""

from __future__ import annotations

import html

import pytest

from newsletter.subscribers.typos import KNOWN_DOMAINS, suggest_address
from tests.support.public_site import (  # noqa: F401
    Site,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
    site_fixture,
)
from tests.test_subscribe_links import _preferences_path, subscribe_and_link

HINT = "Có phải bạn muốn nhập"
RULE = "Không chọn chuyên mục nào nghĩa là nhận tất cả các chuyên mục"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("lan@gmail.con", "lan@gmail.com"),
        ("lan@yahoo.com.vm", "lan@yahoo.com.vn"),
        ("lan@gmial.com", "lan@gmail.com"),
        ("lan@gmai.com", "lan@gmail.com"),
        ("lan@hotmial.com", "lan@hotmail.com"),
        ("lan@hotmial.con", "lan@hotmail.com"),
        ("lan@outlok.com", "lan@outlook.com"),
        ("lan@vnpt.vm", "lan@vnpt.vn"),
        ("lan@viettel.com.vm", "lan@viettel.com.vn"),
        ("lan@hanoi.gov.vm", "lan@hanoi.gov.vn"),
        ("lan@hcmus.eud.vn", "lan@hcmus.edu.vn"),
        ("lan@phuong-3.cm", "lan@phuong-3.com"),
        ("lan@hoasen.gov.vn", None),
        ("lan@example.vn", None),
        ("lan@gmx.com", None),  # a real provider two slips from gmail.com
        ("lan@gmail", "lan@gmail.com"),
        ("lan@intranet", None),
        ("khong-phai-dia-chi", None),
    ],
)
def test_a_likely_typo_gets_the_likely_address(typed: str, meant: str | None) -> None:
    """A slip in a common provider's or a Vietnamese domain is corrected by edit distance;
    a domain that looks right is left alone."""
    assert suggest_address(typed) == meant


def test_a_known_domain_is_never_corrected() -> None:
    """No address at a domain of the list gets a hint, whatever its case."""
    assert [d for d in KNOWN_DOMAINS if suggest_address(f"An@{d.upper()}")] == []


def test_thank_you_page_names_the_address_escaped_and_hints_the_typo(site: Site) -> None:
    """The no-JS thank-you page repeats the address (escaped) and offers the likely one,
    with a form that subscribes it under the same consent text."""
    with site.client() as client:
        done = client.post("/subscribe", data={"email": "a&b@gmail.con", "name": "Lan"})
    assert done.status_code == 200
    assert '<strong id="address" class="address">a&amp;b@gmail.con</strong>' in done.text
    assert f'{HINT} <span class="address">a&amp;b@gmail.com</span>?' in done.text
    assert 'name="email" value="a&amp;b@gmail.com"' in done.text
    assert 'name="name" value="Lan"' in done.text
    assert "bạn đồng ý" in done.text


def test_json_answer_carries_the_address_and_the_suggestion(site: Site) -> None:
    """JSON gets the address and the suggestion as fields; null when nothing looks wrong."""
    with site.client() as client:
        typo = client.post("/subscribe", json={"email": "lan@yahoo.com.vm"}).json()
        right = client.post("/subscribe", json={"email": "lan@example.gov.vn"}).json()
    assert (typo["email"], typo["suggestion"]) == ("lan@yahoo.com.vm", "lan@yahoo.com.vn")
    assert (right["email"], right["suggestion"]) == ("lan@example.gov.vn", None)


def test_a_refused_address_gets_the_hint_too(site: Site) -> None:
    """An address refused as it is typed (here a domain without its ending) names the
    likely one in the error, on the page and in JSON."""
    with site.client() as client:
        page = client.post("/subscribe", data={"email": "lan@gmail"})
        answer = client.post("/subscribe", json={"email": "lan@gmail"})
    assert page.status_code == answer.status_code == 422
    assert f"{HINT} lan@gmail.com?" in page.text
    assert answer.json()["message"].endswith(f"{HINT} lan@gmail.com?")


def test_a_hint_is_the_same_for_a_known_and_an_unknown_address(site: Site) -> None:
    """The hint depends only on the typed text: a stored address answers byte for byte
    as it did when it was new."""
    with site.client() as client:
        new = client.post("/subscribe", data={"email": "lan@gmail.con"})
        known = client.post("/subscribe", data={"email": "lan@gmail.con"})
    assert HINT in new.text
    assert (new.status_code, new.content) == (known.status_code, known.content)


def test_one_category_rule_on_the_box_and_the_preferences_page(site: Site) -> None:
    """The subscribe box and the preferences page state the same rule, in the same words."""
    subscribe_and_link(site)
    with site.client() as client:
        box = client.get("/")
        preferences = client.get(_preferences_path(site))
    for page in (box, preferences):
        assert RULE in html.unescape(page.text)
    assert "ít nhất một chuyên mục" not in preferences.text
