"""/api/auth: register, login, refresh, recover, server config. Public routes (no token),
rate limited per client IP by the stricter auth bucket (chatalot/api/perimeter.py)."""

from __future__ import annotations

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import JSONBody

from chatalot.accounts import commands
from chatalot.accounts import contracts as c
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.api.context import errors
from chatalot.api.read_your_writes import writes_of_session
from chatalot.api.routes import get, post
from chatalot.contracts import iso
from chatalot.request_info import RequestInfo

BODY_LIMIT = 64 * 1024


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]
    request_max_body_size = BODY_LIMIT

    @post("/register", status_code=201, summary="Register an account with its E2E keys",
          responses=errors(403, 409, 413, 422))
    async def register(self, data: JSONBody[c.RegisterRequest],
                       accounts: NamedDependency[AccountsRuntime],
                       info: NamedDependency[RequestInfo]) -> c.AuthResponse:
        """The first account on an instance becomes its owner. The recovery code is shown
        this once; only its hash is kept."""
        done = await commands.register(accounts, data, info)
        writes_of_session(done.session_id)
        a = done.account
        return c.AuthResponse(
            access_token=done.access_token, refresh_token=done.refresh_token,
            user=c.UserPublic(id=a.user_id, username=a.username, display_name=done.display_name,
                              is_admin=a.is_admin, is_owner=a.is_owner,
                              created_at=iso(done.created_at)),
            recovery_code=done.recovery_code, position=done.position)

    @post("/login", status_code=200, summary="Log in (password, then TOTP if enabled)",
          responses=errors(401, 409, 413, 422))
    async def login(self, data: JSONBody[c.LoginRequest],
                    accounts: NamedDependency[AccountsRuntime],
                    info: NamedDependency[RequestInfo]) -> c.AuthResponse:
        """401 `totp_required` when the account has TOTP and no code was sent, 401
        `totp_invalid` for a wrong code; a backup code is accepted in `totp_code`. Repeated
        failures lock the username with a growing delay (429 with Retry-After)."""
        done = await commands.login(accounts, data, info)
        writes_of_session(done.session_id)
        a = done.account
        profile = await _public_or_minimal(accounts, a.user_id, a.username, a.is_admin,
                                           a.is_owner)
        return c.AuthResponse(access_token=done.access_token,
                              refresh_token=done.refresh_token, user=profile,
                              position=done.position)

    @post("/refresh", status_code=200, summary="Rotate a refresh token",
          responses=errors(401, 409, 413, 422))
    async def refresh(self, data: JSONBody[c.RefreshRequest],
                      accounts: NamedDependency[AccountsRuntime],
                      info: NamedDependency[RequestInfo]) -> c.TokenResponse:
        """Each refresh token works once. Presenting one that was already rotated revokes
        its whole session (theft detection)."""
        done = await commands.refresh(accounts, data.refresh_token, info)
        writes_of_session(done.session_id)
        return c.TokenResponse(access_token=done.access_token,
                               refresh_token=done.refresh_token, position=done.position)

    @post("/recover", status_code=200, summary="Reset the password with the recovery code",
          responses=errors(401, 409, 413, 422))
    async def recover(self, data: JSONBody[c.RecoverRequest],
                      accounts: NamedDependency[AccountsRuntime],
                      info: NamedDependency[RequestInfo]) -> c.RecoverResponse:
        """Revokes every session and returns a new recovery code (the old one stops
        working)."""
        code, position = await commands.recover(accounts, data, info)
        return c.RecoverResponse(recovery_code=code, position=position)

    @get("/config", summary="Registration mode and public URL", cache=False,
         responses=errors())
    async def config(self, accounts: NamedDependency[AccountsRuntime]) -> c.ServerConfig:
        settings = accounts.settings
        return c.ServerConfig(registration_mode=settings.registration_mode.value,
                              public_url=settings.public_url)


async def _public_or_minimal(accounts: AccountsRuntime, user_id: object, username: str,
                             is_admin: bool, is_owner: bool) -> c.UserPublic:
    """The user's directory entry (it may lag right after registration: then the basics)."""
    import psycopg

    from chatalot.accounts import queries
    from chatalot.domain.errors import DomainError

    try:
        me = await queries.me(accounts.pool, user_id)  # type: ignore[arg-type]
    except (DomainError, psycopg.Error):  # the directory lagging is not an error here
        return c.UserPublic(id=user_id, username=username,  # type: ignore[arg-type]
                            display_name=username, is_admin=is_admin, is_owner=is_owner)
    return c.UserPublic(id=me.id, username=me.username, display_name=me.display_name,
                        avatar_url=me.avatar_url, banner_url=me.banner_url, bio=me.bio,
                        pronouns=me.pronouns, custom_status=me.custom_status,
                        is_admin=is_admin, is_owner=is_owner, created_at=me.created_at)
