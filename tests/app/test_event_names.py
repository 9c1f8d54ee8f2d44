"""The registered event names are what the log stores: moving an event type between
contexts (issue 9 moved the key events from accounts to keys) must leave them unchanged."""

from __future__ import annotations

from chatalot.bootstrap import build_registry
from chatalot.domain.accounts.events import ACCOUNT_EVENTS
from chatalot.domain.keys.events import KEY_EVENTS

# the names registered before the key events moved (taken from the registry on main)
NAMES_IN_THE_LOG = {
    "AccountRecovered", "AdminGranted", "AdminRevoked", "BackupCodeUsed",
    "BackupCodesRegenerated", "IdentityKeyRegistered", "KeysLow", "LoginFailed",
    "IdentityKeyReplaced",  # issue 15: new
    "LoginSucceeded", "OneTimePrekeyClaimed", "OneTimePrekeysUploaded", "PasswordChanged",
    "PreferencesUpdated", "ProfileUpdated", "RecoveryCodeRegenerated", "RefreshTokenReused",
    "RegistrationInviteCreated", "RegistrationInviteDeleted", "RegistrationInviteUsed",
    "ReportFiled", "ReportReviewed", "SenderKeyUpdated", "SessionRefreshed", "SessionRevoked",
    "SessionStarted", "SignedPrekeyUploaded", "TotpDisabled", "TotpEnabled",
    "TotpSetupStarted", "UserBlocked", "UserDeleted", "UserRegistered", "UserSuspended",
    "UserUnblocked", "UserUnsuspended",
    # messaging (issue 13)
    "BookmarkAdded", "BookmarkRemoved", "MessageDeleted", "MessageEdited", "MessagePinned",
    "MessageQuarantined", "MessageUnquarantined", "MessagePurged",
    "MessageScheduled", "MessageSent", "MessageUnpinned", "PollClosed", "PollCreated",
    "PollVoteRemoved", "PollVoted", "ReactionAdded", "ReactionRemoved", "ReadCursorMoved",
    "ScheduledMessageCancelled", "ScheduledMessageDelivered", "WebhookCreated",
    "WebhookDeleted", "WebhookUpdated",
    "EventRedacted",  # the event store's own redaction record (in every store's registry)
    # spaces (issue 10)
    "ChannelCreated", "ChannelDeleted", "ChannelOwnershipTransferred", "ChannelMemberBanned",
    "ChannelMemberJoined",
    "ChannelMemberKicked", "ChannelMemberLeft", "ChannelMemberUnbanned", "ChannelRoleChanged",
    "ChannelUpdated", "CommunityCreated", "CommunityDeleted", "CommunityInviteCreated",
    "CommunityInviteDeleted", "CommunityInviteUsed", "CommunityMemberBanned",
    "CommunityMemberJoined", "CommunityMemberKicked", "CommunityMemberLeft",
    "CommunityMemberUnbanned", "CommunityNicknameChanged", "CommunityOwnershipTransferred",
    "CommunityRoleChanged", "CommunityUpdated", "DmChannelCreated", "GroupCreated",
    "GroupDeleted", "GroupInviteCreated", "GroupInviteUsed", "GroupMemberJoined",
    "GroupMemberLeft", "GroupOwnershipTransferred", "GroupUpdated",
    "SenderKeyRotationRequired", "TimeoutRemoved", "UserTimedOut", "UserWarned",
    # files (issue 16)
    "FileUploaded", "FileDeleted", "FileQuarantined", "FileUnquarantined", "FileHashBlocked",
    "FileHashUnblocked", "BlockedUploadRefused", "MediaAssetUploaded", "BlobCollected",
    "MediaAssetRemoved",  # a deleted account's, community's or group's images
    # instance announcements (issue 14: the gateway's `announcement` frame)
    "AnnouncementPublished",
    "AnnouncementDismissed",
}


def test_registered_names_are_unchanged() -> None:
    assert set(build_registry().names()) == NAMES_IN_THE_LOG


def test_the_keys_context_owns_the_key_events() -> None:
    keys = {cls.__name__ for cls in KEY_EVENTS}
    assert {"IdentityKeyRegistered", "SignedPrekeyUploaded", "OneTimePrekeysUploaded"} <= keys
    assert not keys & {cls.__name__ for cls in ACCOUNT_EVENTS}
