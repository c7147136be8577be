"""Composition speed: the usual way versus the per-segment template, with and without DKIM.

Run:  .venv/bin/python bench/bench_compose.py [--runs 5] [--quick]

One process, so one core. Each case builds messages for distinct subscribers of a
10-article digest (4 segments); a run's rate is messages / wall time; the report gives
the median of the runs. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import css_inline
import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.config import Settings
from newsletter.mail.composer import CampaignComposer
from newsletter.mail.digest import DigestContent, DigestItem, SectionCategory
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.mime import make_message_id
from newsletter.mail.outgoing import Recipient
from newsletter.mail.render import PersonalLinks
from newsletter.models import CampaignKind
from newsletter.signing import Purpose, make_resident_token

NOW = dt.datetime(2026, 11, 28, 0, 30, tzinfo=dt.UTC)
SEGMENTS = [frozenset(), frozenset({1}), frozenset({2}), frozenset({1, 2})]
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe",
          b"list-unsubscribe-post"]  # fmt: skip


def digest_content() -> DigestContent:
    summary = (
        "Ủy ban nhân dân thành phố thông báo lịch cắt điện, cấp nước và phân luồng giao "
        "thông trong tuần tới để phục vụ thi công tuyến đường ven sông."
    )
    items = [
        DigestItem(
            id=n,
            title=f"Bài số {n}: Thành phố triển khai các biện pháp phòng chống bão số 9",
            url=f"https://example.gov.vn/tin-tuc/bai-{n}.html",
            summary=summary,
            image_url=f"https://example.gov.vn/anh/{n}.jpg" if n % 2 else None,
            published_at=NOW - dt.timedelta(hours=n * 9),
            category_id=1 + n % 2,
        )
        for n in range(10)
    ]
    return DigestContent(
        items=items,
        categories=[
            SectionCategory(1, "tin-tuc", "Tin tức – Sự kiện", 0),
            SectionCategory(2, "thong-bao", "Thông báo", 1),
        ],
        window_start=NOW - dt.timedelta(days=7),
        window_end=NOW,
    )


def recipients(count: int) -> list[Recipient]:
    return [
        Recipient(
            100_000 + i,
            200_000 + i,
            f"cu.dan.{i}@example.vn",
            SEGMENTS[i % len(SEGMENTS)],
            secrets.token_hex(16),
        )
        for i in range(count)
    ]


def usual_way(
    composer: CampaignComposer, settings: Settings, key_pem: bytes | None
) -> Callable[[Recipient], bytes]:
    """What one writes first: Jinja and css-inline per subscriber, EmailMessage, dkimpy."""
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    env = composer.renderer.env
    domain = settings.sending_domain

    def build(r: Recipient) -> bytes:
        unsubscribe = settings.public_link(
            "/unsubscribe/"
            + make_resident_token(settings, Purpose.UNSUBSCRIBE, r.subscriber_id, r.link_key)
        )
        preferences = settings.public_link(
            "/preferences/"
            + make_resident_token(settings, Purpose.PREFERENCES, r.subscriber_id, r.link_key)
        )
        context = composer.context(r.category_ids, PersonalLinks(unsubscribe, preferences), None)
        subject = " ".join(env.get_template("email/digest.subject.txt").render(context).split())
        context["subject"] = subject
        text = env.get_template("email/digest.txt").render(context)
        html = inliner.inline(env.get_template("email/digest.html").render(context))
        msg = EmailMessage(policy=SMTP)
        msg["From"] = settings.mail_from
        msg["To"] = r.email
        msg["Subject"] = subject
        msg["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        msg["Message-ID"] = make_message_id(domain)
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        data = msg.as_bytes()
        if key_pem is not None:
            data = dkim.sign(data, b"bt2026", domain.encode(), key_pem, include_headers=SIGNED,
                             canonicalize=(b"relaxed", b"relaxed")) + data  # fmt: skip
        return data

    return build


def rate(build: Callable[[Recipient], object], count: int, runs: int) -> tuple[float, list[float]]:
    rates = []
    for run in range(runs):
        batch = recipients(count)
        for r in batch[:50]:  # warm caches and templates outside the clock, like a long send
            build(
                Recipient(
                    r.delivery_id + 10**9, r.subscriber_id, r.email, r.category_ids, r.link_key
                )
            )
        start = time.perf_counter()
        for r in batch:
            build(r)
        rates.append(count / (time.perf_counter() - start))
        del run
    return statistics.median(rates), rates


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"{platform.platform()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer messages per run")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="test", secret_key="bench-secret-" + "x" * 40, var_dir=Path(tmp),
                            public_url="https://bantin.example.gov.vn")  # fmt: skip
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signer = DkimSigner(domain="example.gov.vn", selector="bt2026", rsa_key=key)

    def composer(with_signer: DkimSigner | None) -> CampaignComposer:
        return CampaignComposer(settings, kind=CampaignKind.DIGEST, campaign_id=1,
                                digest=digest_content(), signer=with_signer)  # fmt: skip

    plain, signed = composer(None), composer(signer)
    size = len(plain.compose(recipients(1)[0]).data)
    cases: list[tuple[str, Callable[[Recipient], object], int]] = [
        (
            "usual way: Jinja + css-inline + EmailMessage per subscriber",
            usual_way(plain, settings, None),
            300,
        ),
        ("usual way + dkimpy rsa-sha256", usual_way(plain, settings, key_pem), 60),
        ("per subscriber, our MIME + OpenSSL DKIM (compose_slow)", signed.compose_slow, 300),
        ("fast: segment template, no DKIM", plain.compose, 20_000),
        ("fast: segment template + rsa-sha256 2048 (OpenSSL)", signed.compose, 3_000),
    ]
    print(f"machine: {machine()}")
    print(f"message: 10-article digest, {size:,} bytes; {args.runs} runs per case, median shown\n")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes share the cores)\n")
    print("| case | messages/run | median msg/s | best run | runs (msg/s) |")
    print("|---|---|---|---|---|")
    for name, build, count in cases:
        count = max(20, int(count * scale))
        median, rates = rate(build, count, args.runs)
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"| {name} | {count:,} | {median:,.0f} | {max(rates):,.0f} | {runs} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
