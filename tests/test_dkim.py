"""DKIM signatures made through OpenSSL, verified by dkimpy against the test public keys."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from newsletter.cli import app as cli_app
from newsletter.cli import processes
from newsletter.mail.dkim import DkimConfigError, relaxed_body, relaxed_header, signer_from_settings
from newsletter.mail.mime import MessageTemplate, build_message, format_address
from tests.conftest import TEST_SECRET
from tests.support.dkimkeys import DOMAIN, SELECTOR, DkimKeys, make_keys, write_private

SUBJECT = "Thông báo khẩn: Bão số 9 — cắt điện  ở Phường Hòa Bình"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DkimKeys:
    return make_keys(tmp_path_factory.mktemp("dkim"))


def signer_settings(settings_factory: Any, keys: DkimKeys, *, ed25519: bool) -> Any:
    return settings_factory(
        dkim_domain=DOMAIN,
        dkim_selector=SELECTOR,
        dkim_key_file=keys.rsa_file,
        dkim_ed25519_key_file=keys.ed25519_file if ed25519 else None,
    )


def message(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "from_header": format_address("bantin@example.gov.vn", "Bản tin Thành phố Hoa Sen"),
        "to": "an@example.vn",
        "subject": SUBJECT,
        "text": "Xin chào,\nđây là   bản tin.  \n\n\n",
        "html": "<p>Xin chào, đây là <b>bản tin</b>.</p>\n",
        "message_id": "<1.abc@example.gov.vn>",
        "date": "Sat, 28 Nov 2026 07:00:00 +0000",
        "headers": [
            (
                "List-Unsubscribe",
                "<https://bantin.example.gov.vn/unsubscribe/T>,\r\n <mailto:u@x.vn>",
            ),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
        "boundary": "=_bt_test",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("ed25519", [False, True], ids=["rsa", "rsa+ed25519"])
def test_signed_message_verifies_with_dkimpy(
    settings_factory: Any, keys: DkimKeys, ed25519: bool
) -> None:
    """Every signature on a built message verifies with dkimpy: rsa-sha256, and ed25519-sha256."""
    signer = signer_from_settings(signer_settings(settings_factory, keys, ed25519=ed25519))
    assert signer is not None
    signed = signer.sign_message(
        build_message(**message(), body_encoding="quoted-printable"), timestamp=1_764_000_000
    )
    assert keys.verify_all(signed) == [True] * (2 if ed25519 else 1)
    parsed = message_from_bytes(signed, policy=policy.default)
    algorithms = [str(v).split("a=")[1].split(";")[0] for v in parsed.get_all("DKIM-Signature")]
    assert algorithms == (["rsa-sha256", "ed25519-sha256"] if ed25519 else ["rsa-sha256"])


def test_signature_covers_the_required_headers(settings_factory: Any, keys: DkimKeys) -> None:
    """h= lists From, To, Subject, Date, Message-ID and both List-Unsubscribe headers."""
    signer = signer_from_settings(signer_settings(settings_factory, keys, ed25519=False))
    assert signer is not None
    signed = signer.sign_message(
        build_message(**message(), body_encoding="quoted-printable"), timestamp=1_764_000_000
    )
    sig = str(message_from_bytes(signed, policy=policy.default)["DKIM-Signature"])
    tags = {k.strip(): v.strip() for k, _, v in (t.partition("=") for t in sig.split(";"))}
    signed_headers = tags["h"].replace(" ", "").split(":")
    for name in ["from", "to", "subject", "date", "message-id", "list-unsubscribe",
                 "list-unsubscribe-post"]:  # fmt: skip
        assert name in signed_headers
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == DOMAIN
    assert tags["s"] == SELECTOR


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"To: an@example.vn", b"To: eve@example.vn"), (b"l=C3=A0", b"l=C3=A1"), (b"One-Click", b"")],
)
def test_tampering_breaks_the_signature(
    settings_factory: Any, keys: DkimKeys, old: bytes, new: bytes
) -> None:
    """Changing a signed header or the body after signing makes verification fail."""
    signer = signer_from_settings(signer_settings(settings_factory, keys, ed25519=True))
    assert signer is not None
    signed = signer.sign_message(
        build_message(**message(), body_encoding="quoted-printable"), timestamp=1_764_000_000
    )
    assert old in signed
    assert keys.verify_all(signed.replace(old, new, 1)) == [False, False]


def test_template_signature_equals_whole_message_signature(
    settings_factory: Any, keys: DkimKeys
) -> None:
    """The fast path's chunk-wise canonical form signs exactly what the whole path signs."""
    signer = signer_from_settings(signer_settings(settings_factory, keys, ed25519=True))
    assert signer is not None
    slots = {"to": "slotto", "mid": "slotmid", "url": "sloturl"}
    template = MessageTemplate(
        slots=slots,
        signer=signer,
        **message(
            to="slotto",
            message_id="slotmid",
            text="Xin chào,\nHủy đăng ký:   sloturl  \n\nHết.\n",
            html='<p>Xin chào</p>\n<a href="sloturl">Hủy</a>\n',
            headers=[
                ("List-Unsubscribe", "<sloturl>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
        ),
    )
    values = {
        "to": "binh@example.vn",
        "mid": "<7.x@example.gov.vn>",
        "url": "https://b.vn/u/" + "t" * 90,
    }
    fast = template.fill(values, timestamp=1_764_000_000)
    whole = signer.sign_message(
        build_message(
            **message(
                to=values["to"],
                message_id=values["mid"],
                text=f"Xin chào,\nHủy đăng ký:   {values['url']}  \n\nHết.\n",
                html=f'<p>Xin chào</p>\n<a href="{values["url"]}">Hủy</a>\n',
                headers=[
                    ("List-Unsubscribe", f"<{values['url']}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ],
            ),
            body_encoding="quoted-printable",
        ),
        timestamp=1_764_000_000,
    )
    assert fast == whole
    assert keys.verify_all(fast) == [True, True]


def test_relaxed_canonicalisation_follows_rfc_6376_examples() -> None:
    """The relaxed forms match RFC 6376 section 3.4.5's worked example."""
    assert relaxed_header(b"A", b" X\r\n") == b"a:X\r\n"
    assert relaxed_header(b"B ", b" Y\t\r\n\tZ  ") == b"b:Y Z\r\n"
    assert relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert relaxed_body(b"") == b""


def test_dkim_needs_all_three_settings_and_a_usable_key(
    settings_factory: Any, keys: DkimKeys, tmp_path: Path
) -> None:
    """No signer without domain, selector and key; a wrong key file is a clear error."""
    assert (
        signer_from_settings(settings_factory(dkim_domain=DOMAIN, dkim_selector=SELECTOR)) is None
    )
    with pytest.raises(DkimConfigError, match="not RSA"):
        signer_from_settings(
            settings_factory(
                dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=keys.ed25519_file
            )
        )
    write_private(tmp_path / "junk.pem", b"not a key")
    with pytest.raises(DkimConfigError, match="PEM private key"):
        signer_from_settings(
            settings_factory(
                dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=tmp_path / "junk.pem"
            )
        )


def test_a_replaced_key_file_is_read_again(settings_factory: Any, tmp_path: Path) -> None:
    """Parsed keys are reused per file content, so replacing the key file changes the signer."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = make_keys(tmp_path / "a"), make_keys(tmp_path / "b")
    path = tmp_path / "current.pem"

    def public_numbers() -> Any:
        settings = settings_factory(dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=path)
        signer = signer_from_settings(settings)
        assert signer is not None
        return signer.keys[0].private_key.public_key().public_numbers()

    write_private(path, first.rsa_file.read_bytes())
    before = public_numbers()
    assert public_numbers() == before
    write_private(path, second.rsa_file.read_bytes())
    assert public_numbers() != before


def test_a_key_file_others_can_read_is_refused(
    settings_factory: Any, keys: DkimKeys, tmp_path: Path
) -> None:
    """A DKIM key file readable by group or others is refused with a chmod hint."""
    loose = tmp_path / "loose.pem"
    loose.write_bytes(keys.rsa_file.read_bytes())
    for mode in (0o644, 0o640, 0o604):
        loose.chmod(mode)
        settings = settings_factory(dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=loose)
        with pytest.raises(DkimConfigError, match=f"mode 0{mode:o}.*chmod 600"):
            signer_from_settings(settings)


def test_an_rsa_key_under_2048_bits_is_refused(settings_factory: Any, tmp_path: Path) -> None:
    """A 1024-bit RSA key is refused at load, naming its size and the minimum."""
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (on purpose)
    path = write_private(
        tmp_path / "short.pem",
        short.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    settings = settings_factory(dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=path)
    with pytest.raises(DkimConfigError, match="1024-bit RSA key; DKIM needs at least 2048"):
        signer_from_settings(settings)


@pytest.mark.parametrize("command", ["web", "worker", "run"])
def test_processes_refuse_to_start_with_a_loose_key(
    command: str, keys: DkimKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`newsletter web|worker|run` stop at once with one English line for a readable key."""
    loose = tmp_path / "loose.pem"
    loose.write_bytes(keys.rsa_file.read_bytes())
    loose.chmod(0o644)
    env = {
        "NEWSLETTER_ENV": "test",
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_VAR_DIR": str(tmp_path / "var"),
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "NEWSLETTER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "NEWSLETTER_DKIM_DOMAIN": DOMAIN,
        "NEWSLETTER_DKIM_SELECTOR": SELECTOR,
        "NEWSLETTER_DKIM_KEY_FILE": str(loose),
    }

    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"`newsletter {command}` started with a loose key")

    monkeypatch.setattr(processes.uvicorn, "run", started)
    monkeypatch.setattr(processes.subprocess, "Popen", started)
    monkeypatch.setattr("celery.Celery.worker_main", started)
    result = CliRunner().invoke(cli_app, [command], env=env)
    assert result.exit_code == 2, result.output
    assert "cannot start: DKIM key file" in result.output
    assert "chmod 600" in result.output
