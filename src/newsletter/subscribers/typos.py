"""A hint for a likely typo in an address's domain ("gmail.con" → "gmail.com").

Only a hint: the address is accepted as typed. The hint depends on the typed text alone
(never on what is stored), so the answer to a subscription still says nothing about
whether the address was known.
"""

from __future__ import annotations

# Where most residents' mail lives: the big providers and Vietnamese ones.
KNOWN_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.com.vn", "ymail.com",
        "outlook.com", "outlook.com.vn", "hotmail.com", "live.com", "msn.com",
        "icloud.com", "me.com", "mac.com", "protonmail.com", "proton.me", "zoho.com",
        "aol.com", "gmx.com", "mail.com", "email.com", "yandex.com",
        "vnpt.vn", "fpt.vn", "fpt.com.vn", "fpt.edu.vn", "viettel.com.vn", "vnn.vn",
        "hn.vnn.vn", "hcm.vnn.vn", "vtc.vn", "mobifone.vn", "vinaphone.vn",
    }
)  # fmt: skip
# Last labels typed for .com / .vn that are no top-level domain anyone means here.
SUFFIX_TYPOS = {
    "con": "com", "cpm": "com", "cim": "com", "cmo": "com", "ocm": "com", "comn": "com",
    "coom": "com", "cm": "com", "vm": "vn", "nv": "vn", "vnn": "vn",
}  # fmt: skip
# Second-level labels under .vn (hanoi.gov.vn, hcmus.edu.vn …).
VN_SECOND_LEVEL = frozenset({"gov", "edu", "com", "net", "org", "int", "ac", "biz", "info"})


def distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit (optimal string
    alignment): "gmial" is one slip from "gmail", as a resident's fingers make it."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _fix_suffix(domain: str) -> str:
    labels = domain.split(".")
    if len(labels) < 2:
        return domain
    labels[-1] = SUFFIX_TYPOS.get(labels[-1], labels[-1])
    if len(labels) >= 3 and labels[-1] == "vn" and labels[-2] not in VN_SECOND_LEVEL:
        # hanoi.gv.vn, hcmus.eud.vn: one slip away from a second-level name.
        near = [
            name for name in ("gov", "edu", "com", "org", "net") if distance(labels[-2], name) == 1
        ]
        if len(near) == 1 and len(labels[-2]) >= 2:
            labels[-2] = near[0]
    return ".".join(labels)


def suggest_domain(domain: str) -> str | None:
    """The domain the resident most likely meant, or None (also for a known domain)."""
    domain = domain.strip().lower().rstrip(".")
    if not domain or domain in KNOWN_DOMAINS:
        return None
    if "." not in domain:  # "lan@gmail": the provider's name without its ending
        named = sorted(known for known in KNOWN_DOMAINS if known.split(".")[0] == domain)
        return named[0] if named else None
    # Up to two slips for a long name, one for a short one: gmx.com is not gmail.com.
    allowed = 1 if len(domain) < 10 else 2
    best = min(sorted(KNOWN_DOMAINS), key=lambda known: distance(domain, known))
    if distance(domain, best) <= allowed:
        return best
    fixed = _fix_suffix(domain)
    if fixed != domain:
        return suggest_domain(fixed) or fixed
    return None


def suggest_address(typed: str) -> str | None:
    """`typed` with its domain corrected, or None when it looks right (or is no address)."""
    local, at, domain = typed.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    better = suggest_domain(domain)
    return f"{local}@{better}" if better else None
