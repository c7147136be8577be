"""Internationalized domains: the one conversion of an address to the form SMTP carries.

Every place that puts an address on the wire without SMTPUTF8 (the To header, the
envelope, a confirmation) goes through `ascii_address`, so the header and the envelope
of one message can never name two different domains.

IDNA 2008 with UTS 46 mapping (the `idna` package, as email-validator uses it), not
Python's built-in "idna" codec: that codec is IDNA 2003, which maps `ß` to `ss` and
`ς` to `σ` — `x@straße.de` would be mailed at `strasse.de`, somebody else's domain.
"""

from __future__ import annotations

import idna


def ascii_address(address: str) -> str:
    """`address` with its domain as IDNA 2008 A-labels; the local part is kept as it is.

    The domain is mapped as UTS 46 says (non-transitional: `ß` and `ς` are kept and
    encoded, never folded to `ss` and `σ`), then each label is Punycode-encoded, as
    email-validator computes `ascii_email`.

    An address that is already all ASCII is returned unchanged, character for character
    (no case folding, no check of `xn--` labels): it was validated when it was stored.
    ValueError when there is no A-label form: the local part is not ASCII (such a
    mailbox needs a relay with SMTPUTF8), there is no `@`, or the domain is not a valid
    IDN (a disallowed character, an empty or over-long label).
    """
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        raise ValueError(f"{address!r} is not an e-mail address: it has no '@'")
    if not local.isascii():
        raise ValueError(
            f"address {address!r} has a non-ASCII local part: only a relay with SMTPUTF8 "
            "can carry it"
        )
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(
            f"domain of {address!r} is not a valid internationalized domain ({exc}); "
            "check the address's spelling"
        ) from exc
    return f"{local}@{ascii_domain}"
