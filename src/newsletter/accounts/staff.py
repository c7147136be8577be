"""Managing officials: list them, change a role, disable or enable an account.

The service always keeps one active administrator: the last one can be neither demoted
nor disabled (else no one could manage officials or tokens from the admin any more).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.accounts.roles import Role, role_of
from newsletter.models import AdminUser, utcnow


class StaffError(ValueError):
    """The change was refused; the message says why (shown to the admin as is)."""


def list_officials(session: Session) -> list[AdminUser]:
    return list(session.scalars(select(AdminUser).order_by(AdminUser.username)))


def _official(session: Session, user_id: int) -> AdminUser:
    user = session.get(AdminUser, user_id, with_for_update=True)
    if user is None:
        raise LookupError(f"no official #{user_id}")
    return user


def _other_active_admins(session: Session, user_id: int) -> int:
    # Locks the admins' rows (PostgreSQL), so two demotions at once cannot both pass.
    ids = session.scalars(
        select(AdminUser.id)
        .where(
            AdminUser.role == Role.ADMIN.label,
            AdminUser.disabled_at.is_(None),
            AdminUser.id != user_id,
        )
        .with_for_update()
    ).all()
    return len(ids)


def _keep_an_admin(session: Session, user: AdminUser, action: str) -> None:
    is_active_admin = role_of(user.role) is Role.ADMIN and user.disabled_at is None
    if is_active_admin and _other_active_admins(session, user.id) == 0:
        raise StaffError(
            f"cannot {action} {user.username}: they are the last active admin; "
            "make another official admin first"
        )


def set_role(session: Session, *, user_id: int, role: Role) -> AdminUser:
    """Give official `user_id` the role `role`; StaffError for the last admin's demotion."""
    user = _official(session, user_id)
    if role is not Role.ADMIN:
        _keep_an_admin(session, user, "demote")
    user.role = role.label
    return user


def set_disabled(session: Session, *, user_id: int, disabled: bool) -> AdminUser:
    """Disable (their sessions end at once) or enable official `user_id`."""
    user = _official(session, user_id)
    if disabled and user.disabled_at is None:
        _keep_an_admin(session, user, "disable")
        user.disabled_at = utcnow()
        user.session_version = user.session_version + 1
    elif not disabled:
        user.disabled_at = None
    return user


def count_active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                AdminUser.role == Role.ADMIN.label, AdminUser.disabled_at.is_(None)
            )
        )
        or 0
    )
