"""/api/account (the caller's own account) and /api/totp (two-factor authentication)."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from chatalot.accounts import commands, queries
from chatalot.accounts import contracts as c
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.api.context import errors
from chatalot.api.errors import answered_as
from chatalot.api.guards import require_authenticated
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, patch, post, put
from chatalot.auth.principal import Principal
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 64 * 1024


class AccountController(Controller):
    path = "/api/account"
    tags = ["account"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/me", summary="The caller's own profile", responses=errors(401, 404), cache=False,
         dependencies={"consistent": read_your_writes("users")})
    async def me(self, accounts: NamedDependency[AccountsRuntime],
                 principal: NamedDependency[Principal],
                 consistent: NamedDependency[Position | None]) -> c.Me:
        me = await queries.me(accounts.pool, principal.user_id)
        return _with_roles(me, principal)

    @patch("/profile", summary="Update display name, avatar, banner, bio, pronouns, status",
           responses=errors(401, 409, 413, 422))
    async def update_profile(self, data: JSONBody[c.UpdateProfileRequest],
                             accounts: NamedDependency[AccountsRuntime],
                             principal: NamedDependency[Principal],
                             info: NamedDependency[RequestInfo]) -> c.ProfileReply:
        return await commands.update_profile(accounts, principal.user_id, data, info)

    @post("/change-password", status_code=200, summary="Change the password",
          responses=errors(401, 403, 409, 413, 422))
    async def change_password(self, data: JSONBody[c.ChangePasswordRequest],
                              accounts: NamedDependency[AccountsRuntime],
                              principal: NamedDependency[Principal],
                              info: NamedDependency[RequestInfo]) -> c.PositionReply:
        """Revokes every other session; this one stays."""
        position = await commands.change_password(
            accounts, principal.user_id, principal.session_id, data, info)
        return c.PositionReply(position=position)

    @get("/sessions", summary="Active sessions (device, IP, last use)",
         responses=errors(401), cache=False,
         dependencies={"consistent": read_your_writes("sessions")})
    async def sessions(self, accounts: NamedDependency[AccountsRuntime],
                       principal: NamedDependency[Principal],
                       consistent: NamedDependency[Position | None]) -> list[c.Session]:
        return await queries.sessions(accounts.pool, principal.user_id, principal.session_id,
                                      accounts.now())

    @delete("/sessions/{session_id:str}", status_code=200, summary="Revoke one session",
            responses=errors(401, 404, 409, 422))
    async def revoke_session(self, session_id: FromPath[uuid.UUID],
                             accounts: NamedDependency[AccountsRuntime],
                             principal: NamedDependency[Principal],
                             info: NamedDependency[RequestInfo]) -> c.PositionReply:
        position = await commands.revoke_session(accounts, principal.user_id,
                                                 session_id, info)
        return c.PositionReply(position=position)

    @post("/sessions/revoke-all", status_code=200, summary="Revoke every other session",
          responses=errors(401, 409, 422))
    async def revoke_all(self, accounts: NamedDependency[AccountsRuntime],
                         principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                         ) -> c.RevokeAllReply:
        """`position` is null when there was no other session to revoke."""
        count, position = await commands.revoke_other_sessions(
            accounts, principal.user_id, principal.session_id, info)
        return c.RevokeAllReply(revoked_count=count, position=position)

    @delete("/delete", status_code=200, summary="Delete the caller's account",
            responses=errors(401, 403, 409, 413, 422))
    async def delete_account(self, data: JSONBody[c.PasswordConfirmation],
                             accounts: NamedDependency[AccountsRuntime],
                             principal: NamedDependency[Principal],
                             info: NamedDependency[RequestInfo]) -> c.PositionReply:
        """Needs the password. Personal data in the account's events is redacted; every
        session ends. The instance owner cannot delete their account."""
        position = await commands.delete_own_account(accounts, principal.user_id,
                                                     data.password, info)
        return c.PositionReply(position=position)

    @get("/preferences", summary="The caller's preferences", responses=errors(401),
         cache=False, dependencies={"consistent": read_your_writes("users")})
    async def get_preferences(self, accounts: NamedDependency[AccountsRuntime],
                              principal: NamedDependency[Principal],
                              consistent: NamedDependency[Position | None]) -> c.PreferencesReply:
        return c.PreferencesReply(
            preferences=await queries.preferences(accounts.pool, principal.user_id))

    @put("/preferences", summary="Merge preferences (a null value removes a key; 16 KiB max)",
         responses=errors(401, 409, 413, 422))
    async def put_preferences(self, data: JSONBody[c.Preferences],
                              accounts: NamedDependency[AccountsRuntime],
                              principal: NamedDependency[Principal],
                              info: NamedDependency[RequestInfo]) -> c.PreferencesReply:
        merged, position = await commands.update_preferences(
            accounts, principal.user_id, data.preferences, info)
        return c.PreferencesReply(preferences=merged, position=position)

    @post("/recovery-code", status_code=200, summary="Issue a new recovery code",
          responses=errors(401, 403, 409, 413, 422))
    async def recovery_code(self, data: JSONBody[c.PasswordConfirmation],
                            accounts: NamedDependency[AccountsRuntime],
                            principal: NamedDependency[Principal],
                            info: NamedDependency[RequestInfo]) -> c.RecoverResponse:
        """Needs the password; the previous code stops working."""
        code, position = await commands.regenerate_recovery_code(
            accounts, principal.user_id, data.password, info)
        return c.RecoverResponse(recovery_code=code, position=position)


def _with_roles(me: c.Me, principal: Principal) -> c.Me:
    """Roles as they stand now (the directory may lag behind a grant or revocation)."""
    me.is_admin = principal.is_admin
    me.is_owner = principal.is_owner
    return me


class TotpController(Controller):
    path = "/api/totp"
    tags = ["totp"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @post("/setup", status_code=200, summary="Start TOTP setup: a new secret",
          responses=errors(401, 409, 422))
    async def setup(self, accounts: NamedDependency[AccountsRuntime],
                    principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                    ) -> c.TotpSetupResponse:
        """Returns the secret and its otpauth:// URI; TOTP is on once /verify accepts a
        code from it."""
        uri, secret, position = await commands.totp_setup(accounts,
                                                          principal.account, info)
        return c.TotpSetupResponse(otpauth_url=uri, secret=secret, position=position)

    @post("/verify", status_code=200, summary="Confirm setup with a code; enables TOTP",
          responses=errors(401, 409, 413, 422))
    async def verify(self, data: JSONBody[c.TotpVerifyRequest],
                     accounts: NamedDependency[AccountsRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.BackupCodesResponse:
        """A wrong code is 400 `totp_invalid`. Returns 8 single-use backup codes, shown
        this once."""
        with answered_as(400, "totp_invalid"):
            codes, position = await commands.totp_verify(accounts, principal.user_id,
                                                         data.code, info)
        return c.BackupCodesResponse(backup_codes=codes, position=position)

    @post("/disable", status_code=200, summary="Disable TOTP (password and a code)",
          responses=errors(401, 403, 409, 413, 422))
    async def disable(self, data: JSONBody[c.TotpDisableRequest],
                      accounts: NamedDependency[AccountsRuntime],
                      principal: NamedDependency[Principal],
                      info: NamedDependency[RequestInfo]) -> c.PositionReply:
        with answered_as(400, "totp_invalid"):  # a wrong code; still counted toward lockout
            position = await commands.totp_disable(accounts, principal.user_id, data, info)
        return c.PositionReply(position=position)

    @get("/backup-codes", summary="Whether TOTP is on and how many backup codes remain",
         responses=errors(401), cache=False,
         dependencies={"consistent": read_your_writes("users")})
    async def backup_codes(self, accounts: NamedDependency[AccountsRuntime],
                           principal: NamedDependency[Principal],
                           consistent: NamedDependency[Position | None]) -> c.BackupCodesStatus:
        return await queries.backup_codes(accounts.pool, principal.user_id)

    @post("/backup-codes/regenerate", status_code=200, summary="New backup codes",
          responses=errors(401, 403, 409, 413, 422))
    async def regenerate(self, data: JSONBody[c.PasswordConfirmation],
                         accounts: NamedDependency[AccountsRuntime],
                         principal: NamedDependency[Principal],
                         info: NamedDependency[RequestInfo]) -> c.BackupCodesResponse:
        codes, position = await commands.regenerate_backup_codes(
            accounts, principal.user_id, data.password, info)
        return c.BackupCodesResponse(backup_codes=codes, position=position)
