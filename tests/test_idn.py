"""Internationalized domains: the one conversion to A-labels, and the mail that uses it."""

from __future__ import annotations

import re
from typing import Any

import idna
import pytest
from sqlalchemy.orm import Session

from newsletter.campaigns.build import build_digest
from newsletter.campaigns.preview import composer_for
from newsletter.delivery.confirmations import build_confirmation
from newsletter.delivery.transport import open_transport
from newsletter.idn import ascii_address
from newsletter.mail.outgoing import Recipient
from tests.support.composedata import NOW, add_article, add_categories
from tests.support.smtp import SMTPServer

STRASSE = "x@xn--strae-oqa.de"  # IDNA 2008; IDNA 2003 (Python's codec) says strasse.de


def test_sharp_s_is_encoded_not_folded_to_ss() -> None:
    """`ß` is kept and encoded as IDNA 2008 says, never mapped to the `ss` of another domain."""
    assert ascii_address("x@straße.de") == STRASSE


def test_final_sigma_stays_distinct_from_sigma() -> None:
    """A domain with final sigma `ς` gets its own A-label, not the one of the `σ` spelling."""
    final = ascii_address("x@νίκος.gr")
    assert final == "x@xn--kxawhkp.gr"
    assert final != ascii_address("x@νίκοσ.gr")
    assert idna.decode("xn--kxawhkp") == "νίκος"


def test_vietnamese_domain_gets_its_a_label() -> None:
    """A Vietnamese domain with tone marks becomes the A-label that decodes back to it."""
    assert ascii_address("lan@bộ-y-tế.vn") == "lan@xn--b-y-t-s61b7g.vn"
    assert idna.decode("xn--b-y-t-s61b7g.vn") == "bộ-y-tế.vn"


def test_ascii_address_is_returned_unchanged() -> None:
    """An all-ASCII address comes back character for character, case and A-labels included."""
    for address in ("An@Example.VN", "an@xn--v-d-rma6749a.vn"):
        assert ascii_address(address) == address


def test_local_part_is_kept_and_domain_is_mapped() -> None:
    """Only the domain is changed (UTS 46 lower-cases it); the local part keeps its case."""
    assert ascii_address("Lan.Nguyen@Bộ-Y-Tế.VN") == "Lan.Nguyen@xn--b-y-t-s61b7g.vn"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("nguyễn@example.vn", "non-ASCII local part"),
        ("an@ví_dụ.vn", "not a valid internationalized domain"),
        ("an@ví..vn", "not a valid internationalized domain"),
        ("an@☃.vn", "not a valid internationalized domain"),
        ("ví-dụ.vn", "has no '@'"),
    ],
)
def test_address_without_an_a_label_form_is_refused(address: str, reason: str) -> None:
    """A non-ASCII local part, a domain that is no valid IDN, or no `@` raise ValueError."""
    with pytest.raises(ValueError, match=re.escape(reason)):
        ascii_address(address)


def test_confirmation_goes_to_the_a_label(settings_factory: Any) -> None:
    """The confirmation for `x@straße.de` is addressed to the IDNA 2008 domain."""
    mail = build_confirmation(
        settings_factory(), subscriber_id=1, confirm_key="k", email="x@straße.de"
    )
    assert mail.recipient == STRASSE
    assert f"To: {STRASSE}\r\n".encode() in mail.message


def test_digest_to_header_and_envelope_name_the_same_domain(
    session: Session, settings_factory: Any, smtp_server: SMTPServer
) -> None:
    """The digest for `x@straße.de` reaches the relay with To and RCPT TO at one A-label domain."""
    settings = settings_factory(smtp_url=smtp_server.url)
    news, _ = add_categories(session)
    add_article(session, n=1, category=news, hours_ago=2)
    campaign = build_digest(session, settings=settings, now=NOW)
    assert campaign is not None
    out = composer_for(session, settings, campaign.id).compose(
        Recipient(1, 2, "x@straße.de", frozenset())
    )
    transport = open_transport(settings.smtp_url)
    try:
        transport.send(sender=out.envelope_from, recipient=out.recipient, message=out.data)
    finally:
        transport.close()
    [mail] = smtp_server.wait_for(1)
    assert (mail.message["To"], mail.rcpt_tos) == (STRASSE, [STRASSE])
