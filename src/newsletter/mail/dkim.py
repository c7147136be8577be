"""DKIM signing (RFC 6376, relaxed/relaxed) through OpenSSL via `cryptography`.

dkimpy signs in pure Python (~140 RSA signatures/s per core here); OpenSSL does
thousands. dkimpy stays in the tests as the verifier. An ed25519-sha256 signature
(RFC 8463) is added when a second key is configured; its public key is published at
the selector `<DKIM_SELECTOR>-ed25519`, because one DNS record holds one key.

The signer works from the canonical header block and the body hash, so the fast path
(message.MessageTemplate) can feed it pre-canonicalised pieces; `sign_message` does the
whole job for any finished message and is what the tests compare the fast path with.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from newsletter.config import Settings

# Signed when present: the headers that name the sender, the recipient and the message, those
# that tell receivers and auto-responders what kind of mail it is, and those that shape how
# the body reads. Each is also listed once more in h= ("oversigned"): a name listed more often
# than it occurs signs the absence of another instance (RFC 6376 5.4.2), so a second From, a
# Reply-To or a Precedence added after signing breaks the signature instead of riding on it.
SIGNED_HEADERS = (
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "Feedback-ID",
    "Precedence",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
ED25519_SELECTOR_SUFFIX = "-ed25519"

_WSP_RUN = re.compile(rb"[ \t]+")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")


class DkimConfigError(ValueError):
    """The DKIM settings or key files are unusable; the message says what to fix."""


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """One header field in relaxed form: `name:value\\r\\n` (RFC 6376 3.4.2)."""
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.strip().lower() + b":" + value + b"\r\n"


def relaxed_lines(data: bytes) -> bytes:
    """Relaxed body canonicalisation of whole lines, without the end-of-body rule."""
    return _TRAILING_WSP.sub(b"\r\n", _WSP_RUN.sub(b" ", data))


def relaxed_body(body: bytes) -> bytes:
    """A whole body in relaxed form (RFC 6376 3.4.4): empty lines at the end dropped."""
    data = relaxed_lines(body)
    if data and not data.endswith(b"\r\n"):
        data = data.rstrip(b" ") + b"\r\n"
    while data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    return b"" if data == b"\r\n" else data


def parse_header_fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value) pairs of a header block (no blank line), folding kept."""
    fields = []
    for field in _FIELD_START.split(head.rstrip(b"\r\n")):
        name, _, value = field.partition(b":")
        fields.append((name, value))
    return fields


@dataclass(frozen=True)
class _Key:
    algorithm: str  # the a= tag
    selector: str
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463: Ed25519 signs the SHA-256 hash of the canonical data.
        return self.private_key.sign(hashlib.sha256(data).digest())


class DkimSigner:
    """Signs for one domain with an RSA key and optionally an Ed25519 key."""

    def __init__(
        self,
        *,
        domain: str,
        selector: str,
        rsa_key: rsa.RSAPrivateKey,
        ed25519_key: ed25519.Ed25519PrivateKey | None = None,
        header_names: Sequence[str] = SIGNED_HEADERS,
    ) -> None:
        self.domain = domain
        self.header_names = tuple(header_names)
        self._h_tags: dict[tuple[str, ...], str] = {}
        self.keys = [_Key("rsa-sha256", selector, rsa_key)]
        if ed25519_key is not None:
            self.keys.append(
                _Key("ed25519-sha256", selector + ED25519_SELECTOR_SUFFIX, ed25519_key)
            )

    def signed_names(self, present: Sequence[bytes]) -> list[str]:
        """The configured header names found in `present` (lower-cased names), in order."""
        have = {name.strip().lower() for name in present}
        return [n for n in self.header_names if n.lower().encode("ascii") in have]

    def signature_headers(
        self, canonical_headers: bytes, body_hash: bytes, *, names: Sequence[str], timestamp: int
    ) -> bytes:
        """The DKIM-Signature header lines to put on top of the message.

        `canonical_headers` is the relaxed form of the `names` headers in that order;
        `body_hash` the SHA-256 digest of the relaxed body.
        """
        bh = base64.b64encode(body_hash).decode("ascii")
        h = self._folded_names(tuple(names))
        out = []
        for key in self.keys:
            tags = (
                f"v=1; a={key.algorithm}; c=relaxed/relaxed; d={self.domain};"
                f" s={key.selector};\r\n t={timestamp}; h={h};\r\n bh={bh};\r\n b="
            ).encode("ascii")
            signed = canonical_headers + relaxed_header(b"DKIM-Signature", tags)[:-2]
            b = base64.b64encode(key.sign(signed))
            folded = b"\r\n ".join(b[i : i + 72] for i in range(0, len(b), 72))
            out.append(b"DKIM-Signature: " + tags + folded + b"\r\n")
        return b"".join(out)

    def _folded_names(self, names: tuple[str, ...]) -> str:
        """The h= tag's value: the present names, then every configured name once more
        (signing its absence), folded. The same for every message of a template, so it is
        built once (it was ~5 % of a sender's CPU per message)."""
        folded = self._h_tags.get(names)
        if folded is None:
            folded = _fold_names(":".join(n.lower() for n in (*names, *self.header_names)))
            self._h_tags[names] = folded
        return folded

    def sign_message(self, message: bytes, *, timestamp: int) -> bytes:
        """`message` with DKIM-Signature headers added on top (the simple, whole path)."""
        head, _, body = message.partition(b"\r\n\r\n")
        fields = parse_header_fields(head)
        by_name: dict[bytes, bytes] = {}
        for name, value in fields:
            # RFC 6376 5.4.2: the last instance is signed first; our messages have one each.
            by_name[name.strip().lower()] = value
        names = self.signed_names([n for n, _ in fields])
        canonical = b"".join(
            relaxed_header(n.encode("ascii"), by_name[n.lower().encode("ascii")]) for n in names
        )
        body_hash = hashlib.sha256(relaxed_body(body)).digest()
        return (
            self.signature_headers(canonical, body_hash, names=names, timestamp=timestamp) + message
        )


# A key anyone else on the host can read lets them sign mail as the city: refused, like
# ssh refuses a private key file others can read.
_LOOSE_PERMISSIONS = stat.S_IRWXG | stat.S_IRWXO
MIN_RSA_BITS = 2048  # RFC 8301: shorter RSA keys must not be used for signing


def _fold_names(h: str) -> str:
    # The h= list no longer fits one line; fold after a colon (whitespace in h= is ignored).
    lines, line = [], ""
    for name in h.split(":"):
        if line and len(line) + len(name) > 66:
            lines.append(line)
            line = ""
        line += name + ":"
    lines.append(line)
    return "\r\n  ".join(lines).rstrip(":")


def _load_key(path: Path) -> object:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise DkimConfigError(f"cannot read DKIM key file {path}: {exc.strerror}") from exc
    if mode & _LOOSE_PERMISSIONS:
        raise DkimConfigError(
            f"DKIM key file {path} is accessible by group or others (mode "
            f"{stat.S_IMODE(mode):04o}); make it private to the service's user: chmod 600 {path}"
        )
    try:
        return _parse_key(data)
    except (ValueError, TypeError) as exc:
        raise DkimConfigError(
            f"{path} is not an unencrypted PEM private key (make one with "
            "`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`)"
        ) from exc


@functools.lru_cache(maxsize=8)
def _parse_key(data: bytes) -> object:
    # Every batch builds its composer, so its signer: parsing (and checking) an RSA key
    # took ~9 % of a worker's time in the profile (docs/benchmarks.md). Keyed by the
    # file's bytes, so a replaced key file is read anew.
    return serialization.load_pem_private_key(data, password=None)


def signer_from_settings(settings: Settings) -> DkimSigner | None:
    """The signer DKIM_DOMAIN / DKIM_SELECTOR / DKIM_KEY_FILE describe, or None when unset."""
    if not (settings.dkim_domain and settings.dkim_selector and settings.dkim_key_file):
        return None
    rsa_key = _load_key(settings.dkim_key_file)
    if not isinstance(rsa_key, rsa.RSAPrivateKey):
        raise DkimConfigError(f"NEWSLETTER_DKIM_KEY_FILE {settings.dkim_key_file} is not RSA")
    if rsa_key.key_size < MIN_RSA_BITS:
        raise DkimConfigError(
            f"NEWSLETTER_DKIM_KEY_FILE {settings.dkim_key_file} is a {rsa_key.key_size}-bit "
            f"RSA key; DKIM needs at least {MIN_RSA_BITS} bits (make one with "
            "`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`)"
        )
    ed_key: ed25519.Ed25519PrivateKey | None = None
    if settings.dkim_ed25519_key_file is not None:
        loaded = _load_key(settings.dkim_ed25519_key_file)
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise DkimConfigError(
                f"NEWSLETTER_DKIM_ED25519_KEY_FILE {settings.dkim_ed25519_key_file} is not "
                "Ed25519 (make one with `openssl genpkey -algorithm ed25519`)"
            )
        ed_key = loaded
    return DkimSigner(
        domain=settings.dkim_domain,
        selector=settings.dkim_selector,
        rsa_key=rsa_key,
        ed25519_key=ed_key,
    )
