"""The log as a product, as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.admin_log import AdminLogController
from chatalot.bounded_context import BoundedContext
from chatalot.logbook.runtime import LogbookRuntime
from projections.read_models.audit import AuditLog

# The moderation and security actions the audit log keeps (each context's conventions:
# PORTS.md, "Event data conventions").
AUDITED: tuple[str, ...] = (
    # accounts: security
    "LoginSucceeded", "LoginFailed", "PasswordChanged", "AccountRecovered",
    "RecoveryCodeRegenerated", "TotpEnabled", "TotpDisabled", "BackupCodesRegenerated",
    "BackupCodeUsed", "SessionRevoked", "RefreshTokenReused",
    # accounts: instance moderation
    "UserSuspended", "UserUnsuspended", "AdminGranted", "AdminRevoked", "UserDeleted",
    "ReportFiled", "ReportReviewed", "RegistrationInviteCreated", "RegistrationInviteDeleted",
    # spaces: moderation of communities and channels
    "CommunityMemberKicked", "CommunityMemberBanned", "CommunityMemberUnbanned",
    "CommunityRoleChanged", "CommunityOwnershipTransferred", "CommunityDeleted",
    "GroupOwnershipTransferred", "ChannelMemberKicked", "ChannelMemberBanned",
    "ChannelMemberUnbanned", "ChannelRoleChanged", "ChannelOwnershipTransferred",
    "ChannelUpdated", "ChannelDeleted", "UserTimedOut", "TimeoutRemoved", "UserWarned",
    # messaging: instance staff's quarantine and purge
    "MessageQuarantined", "MessageUnquarantined", "MessagePurged",
)


class Audit(AuditLog):
    # bump whenever AUDITED or the tables change: the audit log is then rebuilt beside
    version = 5  # 5: an index on created_at (time windows)
    event_types = frozenset({*AUDITED, "EventRedacted"})


LOGBOOK = BoundedContext(
    name="logbook",
    events=[],
    projectors=[lambda: Audit()],
    controllers=[AdminLogController],
    runtimes={"logbook": lambda services: LogbookRuntime(services.store, services.pool)},
)
