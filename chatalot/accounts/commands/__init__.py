"""Account commands, one module per capability: load decision state (chatalot/accounts/
state.py), apply the domain rules, append events and update the decision tables, all in one
short transaction through `run_command`.

Password hashing (the slow part) always happens before the transaction opens, so a
transaction never waits on Argon2. Each command returns what the HTTP reply needs,
including the position of its last event. The controllers call them as `commands.<name>`.
"""

from chatalot.accounts.commands.admin import (
    create_invite,
    delete_invite,
    reset_password,
    set_admin,
    suspend,
    unsuspend,
)
from chatalot.accounts.commands.credentials import (
    change_password,
    recover,
    regenerate_backup_codes,
    regenerate_recovery_code,
    totp_disable,
    totp_setup,
    totp_verify,
)
from chatalot.accounts.commands.deletion import (
    admin_delete,
    delete_own_account,
    finish_pending_redactions,
    redact_deleted,
)
from chatalot.accounts.commands.login import LoggedIn, Refreshed, login, refresh
from chatalot.accounts.commands.profile import (
    block,
    file_report,
    review_report,
    unblock,
    update_preferences,
    update_profile,
)
from chatalot.accounts.commands.registration import Registered, register
from chatalot.accounts.commands.sessions import revoke_other_sessions, revoke_session
from chatalot.accounts.state import load_account

__all__ = [
    "LoggedIn", "Refreshed", "Registered", "admin_delete", "block", "change_password",
    "create_invite", "delete_invite", "delete_own_account", "file_report",
    "finish_pending_redactions", "load_account", "login", "recover", "redact_deleted",
    "refresh", "regenerate_backup_codes", "regenerate_recovery_code", "register",
    "reset_password", "review_report", "revoke_other_sessions", "revoke_session",
    "set_admin", "suspend", "totp_disable", "totp_setup", "totp_verify", "unblock",
    "unsuspend", "update_preferences", "update_profile",
]
