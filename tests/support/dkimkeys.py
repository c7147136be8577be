"""Test DKIM keys and a DNS stand-in for dkimpy (the verifier in the tests)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

DOMAIN = "example.gov.vn"
SELECTOR = "bt2026"


@dataclass(frozen=True)
class DkimKeys:
    rsa_file: Path
    ed25519_file: Path
    records: dict[bytes, bytes]  # DNS name -> TXT record

    def dnsfunc(self, name: bytes, timeout: int = 5) -> bytes:
        return self.records.get(name.rstrip(b"."), b"")

    def verify_all(self, message: bytes) -> list[bool]:
        """dkimpy's verdict on every DKIM-Signature of `message`, top to bottom."""
        checker = dkim.DKIM(message)
        count = message.split(b"\r\n\r\n", 1)[0].lower().count(b"\ndkim-signature:") + int(
            message.lower().startswith(b"dkim-signature:")
        )
        return [self._verify(checker, i) for i in range(count)]

    def _verify(self, checker: dkim.DKIM, index: int) -> bool:
        try:
            return bool(checker.verify(idx=index, dnsfunc=self.dnsfunc))
        except dkim.DKIMException:  # dkimpy raises for some failures (body hash mismatch)
            return False


def write_private(path: Path, data: bytes) -> Path:
    """Write a key file readable by its owner only, as the service requires of DKIM keys."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(data)
    return path


def make_keys(directory: Path) -> DkimKeys:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_file = directory / "dkim-rsa.pem"
    ed_file = directory / "dkim-ed25519.pem"
    for key, path in ((rsa_key, rsa_file), (ed_key, ed_file)):
        write_private(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    rsa_public = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ed_public = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    records = {
        f"{SELECTOR}._domainkey.{DOMAIN}".encode(): b"v=DKIM1; k=rsa; p="
        + base64.b64encode(rsa_public),
        f"{SELECTOR}-ed25519._domainkey.{DOMAIN}".encode(): b"v=DKIM1; k=ed25519; p="
        + base64.b64encode(ed_public),
    }
    return DkimKeys(rsa_file, ed_file, records)
