"""Instance administration of accounts: /api/admin/users, /api/admin/invites,
/api/admin/reports. Instance admins and the owner only (granting admin: the owner only)."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.accounts import commands, queries
from chatalot.accounts import contracts as c
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.api.context import errors
from chatalot.api.guards import require_instance_admin
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import delete, get, post, put
from chatalot.auth.principal import Principal
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 16 * 1024


class AdminUsersController(Controller):
    path = "/api/admin/users"
    tags = ["admin"]
    guards = [require_instance_admin]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="List and search users", responses=errors(401, 403), cache=False,
         dependencies={"consistent": read_your_writes("users")})
    async def list_users(self, accounts: NamedDependency[AccountsRuntime],
                         consistent: NamedDependency[Position | None],
                         q: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
                         limit: FromQuery[int | None] = None) -> c.AdminUserPage:
        """`q` matches username, display name or email (case-insensitive, partial);
        `limit` 1-100 (default 50)."""
        return await queries.admin_users(accounts.pool, q, cursor, limit)

    @post("/{user_id:str}/suspend", status_code=200, summary="Suspend a user",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def suspend(self, user_id: FromPath[uuid.UUID],
                      accounts: NamedDependency[AccountsRuntime],
                      principal: NamedDependency[Principal], info: NamedDependency[RequestInfo],
                      data: JSONBody[c.SuspendRequest | None] = None) -> c.PositionReply:
        """Ends every session of the user at once; their tokens stop working."""
        reason = data.reason if data else None
        position = await commands.suspend(accounts, principal.account, user_id,
                                          reason, info)
        return c.PositionReply(position=position)

    @post("/{user_id:str}/unsuspend", status_code=200, summary="Lift a suspension",
          responses=errors(401, 403, 404, 409, 422))
    async def unsuspend(self, user_id: FromPath[uuid.UUID],
                        accounts: NamedDependency[AccountsRuntime],
                        principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                        ) -> c.PositionReply:
        position = await commands.unsuspend(accounts, principal.account, user_id,
                                            info)
        return c.PositionReply(position=position)

    @delete("/{user_id:str}", status_code=200, summary="Delete a user's account",
            responses=errors(401, 403, 404, 409, 422))
    async def delete_user(self, user_id: FromPath[uuid.UUID],
                          accounts: NamedDependency[AccountsRuntime],
                          principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                          ) -> c.PositionReply:
        position = await commands.admin_delete(accounts, principal.account, user_id,
                                               info)
        return c.PositionReply(position=position)

    @put("/{user_id:str}/admin", status_code=200, summary="Grant or revoke admin (owner only)",
         responses=errors(401, 403, 404, 409, 413, 422))
    async def set_admin(self, user_id: FromPath[uuid.UUID], data: JSONBody[c.SetAdminRequest],
                        accounts: NamedDependency[AccountsRuntime],
                        principal: NamedDependency[Principal],
                        info: NamedDependency[RequestInfo]) -> c.PositionReply:
        position = await commands.set_admin(accounts, principal.account, user_id,
                                            data.is_admin, info)
        return c.PositionReply(position=position)

    @put("/{user_id:str}/password", status_code=200, summary="Set a user's password",
         responses=errors(401, 403, 404, 409, 413, 422))
    async def reset_password(self, user_id: FromPath[uuid.UUID],
                             data: JSONBody[c.ResetPasswordRequest],
                             accounts: NamedDependency[AccountsRuntime],
                             principal: NamedDependency[Principal],
                             info: NamedDependency[RequestInfo]) -> c.PositionReply:
        """Ends every session of the user."""
        position = await commands.reset_password(accounts, principal.account,
                                                 user_id, data.new_password, info)
        return c.PositionReply(position=position)


class AdminInvitesController(Controller):
    path = "/api/admin/invites"
    tags = ["admin"]
    guards = [require_instance_admin]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="Registration invites", responses=errors(401, 403), cache=False,
         dependencies={"consistent": read_your_writes("registration_invites")})
    async def list_invites(self, accounts: NamedDependency[AccountsRuntime],
                           consistent: NamedDependency[Position | None]
                           ) -> list[c.RegistrationInvite]:
        return await queries.invites(accounts.pool)

    @post("/", status_code=201, summary="Create a registration invite",
          responses=errors(401, 403, 409, 413, 422))
    async def create_invite(self, data: JSONBody[c.CreateInviteRequest],
                            accounts: NamedDependency[AccountsRuntime],
                            principal: NamedDependency[Principal],
                            info: NamedDependency[RequestInfo]) -> c.InviteCreated:
        """`max_uses` unlimited and no expiry by default; `expires_in_hours` 1-8760."""
        invite, position = await commands.create_invite(accounts, principal.account,
                                                        data, info)
        return c.InviteCreated(**{f: getattr(invite, f) for f in invite.__struct_fields__},
                               position=position)

    @delete("/{invite_id:str}", status_code=200, summary="Delete a registration invite",
            responses=errors(401, 403, 404, 409, 422))
    async def delete_invite(self, invite_id: FromPath[uuid.UUID],
                            accounts: NamedDependency[AccountsRuntime],
                            principal: NamedDependency[Principal],
                            info: NamedDependency[RequestInfo]) -> c.PositionReply:
        position = await commands.delete_invite(accounts, principal.account,
                                                invite_id, info)
        return c.PositionReply(position=position)


class AdminReportsController(Controller):
    path = "/api/admin/reports"
    tags = ["admin"]
    guards = [require_instance_admin]
    request_max_body_size = BODY_LIMIT

    @get("/", summary="The report review queue", responses=errors(401, 403), cache=False,
         dependencies={"consistent": read_your_writes("reports")})
    async def list_reports(self, accounts: NamedDependency[AccountsRuntime],
                           consistent: NamedDependency[Position | None],
                           status: FromQuery[str | None] = None,
                           cursor: FromQuery[str | None] = None, limit: FromQuery[int | None] = None
                           ) -> c.ReportPage:
        """`status`: pending, reviewed, resolved or dismissed; oldest first."""
        return await queries.reports(accounts.pool, status, cursor, limit)

    @post("/{report_id:str}/review", status_code=200, summary="Review a report",
          responses=errors(401, 403, 404, 409, 413, 422))
    async def review(self, report_id: FromPath[uuid.UUID], data: JSONBody[c.ReviewReportRequest],
                     accounts: NamedDependency[AccountsRuntime],
                     principal: NamedDependency[Principal],
                     info: NamedDependency[RequestInfo]) -> c.PositionReply:
        position = await commands.review_report(accounts, principal.account,
                                                report_id, data, info)
        return c.PositionReply(position=position)
