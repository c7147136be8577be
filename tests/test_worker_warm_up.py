"""A worker warms up before forking: its pool processes inherit compiled templates and keys."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsletter.campaigns.build import create_bulletin
from newsletter.campaigns.preview import composer_for
from newsletter.cli import processes
from newsletter.mail import composer as compose
from newsletter.mail import dkim
from newsletter.mail.environment import create_environment
from newsletter.mail.outgoing import Recipient
from newsletter.tasks import jobs as tasks
from tests.conftest import TEST_SECRET
from tests.support.composedata import parse
from tests.support.dkimkeys import DOMAIN, SELECTOR, make_keys


def test_warm_up_compiles_every_mail_template(
    session: Session, settings_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After warm_up, a bulletin is composed without loading a single template again."""
    # A templates directory of its own: an environment no other test has compiled into.
    (tmp_path / "templates").mkdir()
    settings = settings_factory(templates_dir=tmp_path / "templates")
    compose.warm_up(settings)

    def no_loading(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a template was compiled after the warm-up")

    monkeypatch.setattr(create_environment(settings).loader, "load", no_loading)
    campaign = create_bulletin(
        session, subject="Cắt điện", body_markdown="Phường 1, từ 8 giờ.",
        category_slugs=[], created_by="test",
    )  # fmt: skip
    message = composer_for(session, settings, campaign.id).compose(
        Recipient(delivery_id=1, subscriber_id=1, email="an@example.vn", category_ids=frozenset())
    )
    assert parse(message.data)["Subject"] == "Cắt điện"


def test_warm_up_parses_the_dkim_key(
    settings_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After warm_up, the signer is built from the parsed key without parsing it again."""
    keys = make_keys(tmp_path)  # a fresh key: not in the parse cache yet
    settings = settings_factory(
        dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=keys.rsa_file
    )
    compose.warm_up(settings)

    def no_parsing(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the DKIM key was parsed after the warm-up")

    monkeypatch.setattr(dkim.serialization, "load_pem_private_key", no_parsing)
    assert dkim.signer_from_settings(settings) is not None


def test_a_broken_dkim_key_does_not_stop_the_warm_up(
    settings_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """warm_up only logs an unusable key (the CLI refuses one at start; a key broken later
    pauses the campaign at its first batch)."""
    broken = tmp_path / "broken.pem"
    broken.write_text("not a key\n")
    settings = settings_factory(dkim_domain=DOMAIN, dkim_selector=SELECTOR, dkim_key_file=broken)
    with caplog.at_level(logging.WARNING, logger="newsletter.tasks.jobs"):
        tasks.warm_up(settings)
    assert "worker warm-up incomplete" in caplog.text


def test_worker_warms_up_before_it_forks_its_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`newsletter worker` runs the warm-up in the parent, before Celery starts the pool."""
    monkeypatch.setenv("NEWSLETTER_ENV", "test")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("NEWSLETTER_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    calls: list[str] = []
    monkeypatch.setattr(processes, "require_dependencies", lambda _settings: None)
    monkeypatch.setattr(processes, "require_same_address_key", lambda _settings: None)
    monkeypatch.setattr(processes, "configure_logging", lambda _settings: None)
    monkeypatch.setattr(tasks, "warm_up", lambda _settings: calls.append("warm_up"))
    monkeypatch.setattr("celery.Celery.worker_main", lambda _app, argv: calls.append("worker_main"))
    processes.worker(queues="urgent,default", concurrency=1, nice=0)
    assert calls == ["warm_up", "worker_main"]
