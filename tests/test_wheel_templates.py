"""The wheel carries the templates: installed from it, the service renders without the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run inside the fresh venv: a digest composed by the installed package's own code.
RENDER_DIGEST = """
import datetime as dt
import json
import sys
from email import message_from_bytes, policy

import newsletter
from newsletter.mail.digest import DigestContent, DigestItem, SectionCategory
from newsletter.config import Settings
from newsletter.mail.composer import CampaignComposer
from newsletter.mail.environment import shipped_templates_dir
from newsletter.mail.outgoing import Recipient
from newsletter.models import CampaignKind

var = sys.argv[1]
settings = Settings(
    env="test",
    var_dir=var,
    secret_key="wheel-test-secret-key-long-enough-0123456789",
    public_url="https://bantin.example.gov.vn",
    mail_from="Bản tin Thành phố Hoa Sen <bantin@example.gov.vn>",
    smtp_url=f"maildir:{var}/outbox",
)
end = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
item = DigestItem(
    id=1,
    title="Lịch cắt điện tuần tới",
    url="https://example.gov.vn/tin/1.html",
    summary="Ủy ban nhân dân thành phố thông báo.",
    image_url=None,
    published_at=end - dt.timedelta(hours=5),
    category_id=1,
)
digest = DigestContent(
    items=[item],
    categories=[SectionCategory(1, "thong-bao", "Thông báo", 0)],
    window_start=end - dt.timedelta(days=7),
    window_end=end,
)
composer = CampaignComposer(
    settings, kind=CampaignKind.DIGEST, campaign_id=1, subject="Bản tin tuần", digest=digest
)
raw = composer.compose(Recipient(1, 1, "an@example.vn", frozenset())).data
plain, rich = message_from_bytes(raw, policy=policy.default).iter_parts()
print(json.dumps({
    "module": newsletter.__file__,
    "templates": str(shipped_templates_dir()),
    "text": plain.get_content(),
    "html": rich.get_content(),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("newsletter-*.whl")
    return built


def test_wheel_holds_every_template(wheel: Path) -> None:
    """Every file under templates/ is in the wheel as newsletter/templates/<same path>."""
    expected = {
        f"newsletter/templates/{path.relative_to(ROOT / 'templates').as_posix()}"
        for path in (ROOT / "templates").rglob("*")
        if path.is_file()
    }
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("newsletter/templates/")}
    assert expected
    assert shipped == expected


def test_installed_wheel_renders_a_digest(wheel: Path, tmp_path: Path) -> None:
    """A venv holding the wheel, not the checkout, composes a digest from its own templates."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    # The dependencies come from this interpreter's site-packages, appended after the
    # venv's own. Paths listed in a .pth file are not scanned for .pth files themselves,
    # so the editable install's pointer to src/ stays out.
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site_packages / "project_dependencies.pth").write_text("\n".join(ours) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    result = subprocess.run(
        [python, "-I", "-c", RENDER_DIGEST, str(tmp_path / "var")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert Path(out["module"]).is_relative_to(site_packages)
    assert Path(out["templates"]) == site_packages / "newsletter" / "templates"
    assert "MỤC LỤC" in out["text"]
    assert "Lịch cắt điện tuần tới" in out["text"]
    assert "Lịch cắt điện tuần tới" in out["html"]
