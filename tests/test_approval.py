"""The two-officials rule (campaigns/approval.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.accounts.roles import Role
from newsletter.accounts.staff import StaffError, set_disabled, set_role
from newsletter.campaigns.approval import Actor, ApprovalError, approve, check_send, send_blocker
from newsletter.campaigns.build import create_bulletin
from newsletter.campaigns.editing import edit_bulletin
from newsletter.models import AdminUser, AuditEvent, Campaign
from tests.support.ledger import add_subscribers

THRESHOLD = 3
AUTHOR = Actor(name="tac-gia", can_send=True)
SECOND = Actor(name="nguoi-duyet", can_send=True)
EDITOR = Actor(name="bien-tap", can_send=False)


def bulletin(session: Session, *, residents: int, author: Actor = AUTHOR) -> Campaign:
    add_subscribers(session, residents, prefix=f"dan{residents}x")
    campaign = create_bulletin(
        session,
        subject="Thông báo cắt nước",
        body_markdown="Cắt nước **từ 8:00**.",
        category_slugs=[],
        created_by=author.name,
    )
    campaign.needs_approval = not author.can_send
    session.flush()
    return campaign


def actions(session: Session, campaign_id: int) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target == f"campaign {campaign_id}")
        .order_by(AuditEvent.id)
    )
    return [(e.actor, e.action) for e in rows]


def test_under_the_threshold_an_approver_sends_alone(session: Session) -> None:
    """At or under the threshold the author, an approver, may send without anyone else."""
    campaign = bulletin(session, residents=THRESHOLD)
    assert check_send(session, campaign_id=campaign.id, actor=AUTHOR, threshold=THRESHOLD) == 3


def test_over_the_threshold_a_second_official_must_approve(session: Session) -> None:
    """Over the threshold: no send before approval; the author cannot approve; a second
    approver can, and then the bulletin may be sent; both steps are audited."""
    campaign = bulletin(session, residents=THRESHOLD + 1)
    with pytest.raises(ApprovalError, match="over the approval threshold of 3"):
        check_send(session, campaign_id=campaign.id, actor=AUTHOR, threshold=THRESHOLD)
    with pytest.raises(ApprovalError, match="not its author"):
        approve(session, campaign_id=campaign.id, actor=AUTHOR)
    with pytest.raises(ApprovalError, match="approver role"):
        approve(session, campaign_id=campaign.id, actor=EDITOR)
    approve(session, campaign_id=campaign.id, actor=SECOND)
    assert campaign.approved_by == SECOND.name
    assert campaign.approved_at is not None
    assert check_send(session, campaign_id=campaign.id, actor=AUTHOR, threshold=THRESHOLD) == 4
    assert ("nguoi-duyet", "bulletin.approved") in actions(session, campaign.id)


def test_an_emergency_send_needs_a_reason_and_is_kept(session: Session) -> None:
    """An approver sends an over-threshold bulletin alone only with a non-empty reason,
    which is stored on the campaign and in the audit trail."""
    campaign = bulletin(session, residents=THRESHOLD + 2)
    for empty in ("", "   \n "):
        with pytest.raises(ApprovalError, match="needs a reason"):
            check_send(
                session,
                campaign_id=campaign.id,
                actor=AUTHOR,
                threshold=THRESHOLD,
                emergency_reason=empty,
            )
    with pytest.raises(ApprovalError, match="approver role"):
        check_send(
            session,
            campaign_id=campaign.id,
            actor=EDITOR,
            threshold=THRESHOLD,
            emergency_reason="bão",
        )
    check_send(
        session,
        campaign_id=campaign.id,
        actor=AUTHOR,
        threshold=THRESHOLD,
        emergency_reason="Bão số 9 đổ bộ trong 2 giờ tới",
    )
    assert campaign.emergency_reason == "Bão số 9 đổ bộ trong 2 giờ tới"
    assert campaign.emergency_by == AUTHOR.name
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "bulletin.emergency_sent")
    ).one()
    assert event.actor == AUTHOR.name
    assert "Bão số 9" in (event.detail or "")


def test_editing_after_approval_withdraws_it(session: Session) -> None:
    """An edit after the approval clears it (audited); the bulletin needs approving again."""
    campaign = bulletin(session, residents=THRESHOLD + 1)
    approve(session, campaign_id=campaign.id, actor=SECOND)
    edit_bulletin(
        session,
        campaign_id=campaign.id,
        subject="Thông báo cắt nước (sửa giờ)",
        body_markdown="Cắt nước **từ 9:00**.",
        category_slugs=[],
        actor=AUTHOR.name,
    )
    assert campaign.approved_by is None
    assert campaign.subject.endswith("(sửa giờ)")
    with pytest.raises(ApprovalError, match="must approve it first"):
        check_send(session, campaign_id=campaign.id, actor=AUTHOR, threshold=THRESHOLD)
    assert actions(session, campaign.id)[-2:] == [
        ("tac-gia", "bulletin.edited"),
        ("tac-gia", "bulletin.approval_withdrawn"),
    ]


def test_an_editors_bulletin_waits_for_an_approver(session: Session) -> None:
    """An editor (or a bulletins:draft token) cannot send even a small bulletin; an
    approver other than the author sends it directly under the threshold."""
    campaign = bulletin(session, residents=1, author=EDITOR)
    with pytest.raises(ApprovalError, match="approver role"):
        check_send(session, campaign_id=campaign.id, actor=EDITOR, threshold=THRESHOLD)
    blocker = send_blocker(campaign, recipients=1, threshold=THRESHOLD, sender=EDITOR.name)
    assert blocker is not None
    assert "an approver sends it" in blocker
    assert check_send(session, campaign_id=campaign.id, actor=SECOND, threshold=THRESHOLD) == 1


def test_a_started_bulletin_can_no_longer_be_approved_or_edited(session: Session) -> None:
    """Approval and edits apply to drafts only; a clear message otherwise."""
    campaign = bulletin(session, residents=1)
    campaign.status = campaign.status.SENT
    session.flush()
    with pytest.raises(ApprovalError, match="already sent"):
        approve(session, campaign_id=campaign.id, actor=SECOND)
    with pytest.raises(ApprovalError, match="already sent"):
        edit_bulletin(
            session,
            campaign_id=campaign.id,
            subject="x",
            body_markdown="y",
            category_slugs=[],
            actor=AUTHOR.name,
        )


def test_the_last_admin_can_be_neither_demoted_nor_disabled(session: Session) -> None:
    """With one active admin, demoting or disabling them is refused; with two it is not."""
    first = AdminUser(username="quantri1", password_hash="x", role="admin")
    other = AdminUser(username="quantri2", password_hash="x", role="editor")
    session.add_all([first, other])
    session.flush()
    # Other admins of the shared test database would hide the rule: only these two.
    for user in session.scalars(select(AdminUser).where(AdminUser.id.not_in([first.id]))):
        user.role = "editor"
    session.flush()
    with pytest.raises(StaffError, match="last active admin"):
        set_role(session, user_id=first.id, role=Role.APPROVER)
    with pytest.raises(StaffError, match="last active admin"):
        set_disabled(session, user_id=first.id, disabled=True)
    set_role(session, user_id=other.id, role=Role.ADMIN)
    set_role(session, user_id=first.id, role=Role.VIEWER)
    assert first.role == "viewer"
    set_disabled(session, user_id=first.id, disabled=True)
    assert first.disabled_at is not None
    with pytest.raises(StaffError, match="last active admin"):
        set_disabled(session, user_id=other.id, disabled=True)
