"""/api/users (search, profiles, blocks) and /api/reports."""

from __future__ import annotations

import uuid

from litestar import Controller
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from chatalot.accounts import commands, queries
from chatalot.accounts import contracts as c
from chatalot.accounts.runtime import AccountsRuntime
from chatalot.api.context import errors
from chatalot.api.guards import require_authenticated
from chatalot.api.read_your_writes import read_your_writes
from chatalot.api.routes import get, post
from chatalot.auth.principal import Principal
from chatalot.request_info import RequestInfo
from event_store import Position

BODY_LIMIT = 16 * 1024


class UsersController(Controller):
    path = "/api/users"
    tags = ["users"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @get("/search", summary="Find users by username or display name",
         responses=errors(401), cache=False,
         dependencies={"consistent": read_your_writes("users")})
    async def search(self, q: FromQuery[str], accounts: NamedDependency[AccountsRuntime],
                     principal: NamedDependency[Principal],
                     consistent: NamedDependency[Position | None]) -> list[c.UserPublic]:
        """At most 20 results, among the users the caller shares a community with (instance
        staff: everyone). `q` is 2-64 characters."""
        return await queries.search_users(accounts.pool, principal.user_id,
                                          principal.is_staff, q)

    @get("/blocked", summary="Users the caller blocked", responses=errors(401), cache=False,
         dependencies={"consistent": read_your_writes("users", "user_blocks")})
    async def blocked(self, accounts: NamedDependency[AccountsRuntime],
                      principal: NamedDependency[Principal],
                      consistent: NamedDependency[Position | None]) -> list[c.BlockedUser]:
        return await queries.blocked(accounts.pool, principal.user_id)

    @get("/{user_id:str}", summary="A user's public profile", responses=errors(401, 404),
         cache=False, dependencies={"consistent": read_your_writes("users")})
    async def get_user(self, user_id: FromPath[uuid.UUID],
                       accounts: NamedDependency[AccountsRuntime],
                       principal: NamedDependency[Principal],
                       consistent: NamedDependency[Position | None]) -> c.UserPublic:
        """404 also when the caller may not see the user (no shared community)."""
        return await queries.get_user(accounts.pool, principal.user_id, principal.is_staff,
                                      user_id)

    @post("/block", status_code=200, summary="Block a user",
          responses=errors(401, 404, 409, 413, 422))
    async def block(self, data: JSONBody[c.BlockRequest],
                    accounts: NamedDependency[AccountsRuntime],
                    principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                    ) -> c.PositionReply:
        position = await commands.block(accounts, principal.user_id, data.user_id,
                                        info)
        return c.PositionReply(position=position)

    @post("/unblock/{user_id:str}", status_code=200, summary="Unblock a user",
          responses=errors(401, 409, 422))
    async def unblock(self, user_id: FromPath[uuid.UUID],
                      accounts: NamedDependency[AccountsRuntime],
                      principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                      ) -> c.PositionReply:
        position = await commands.unblock(accounts, principal.user_id, user_id, info)
        return c.PositionReply(position=position)


class ReportsController(Controller):
    path = "/api/reports"
    tags = ["users"]
    guards = [require_authenticated]
    request_max_body_size = BODY_LIMIT

    @post("/", status_code=201, summary="Report a user, message or file to the instance admins",
          responses=errors(401, 404, 409, 413, 422))
    async def report(self, data: JSONBody[c.ReportRequest],
                     accounts: NamedDependency[AccountsRuntime],
                     principal: NamedDependency[Principal], info: NamedDependency[RequestInfo]
                     ) -> c.ReportCreated:
        report_id, position = await commands.file_report(accounts, principal.user_id,
                                                         data, info)
        return c.ReportCreated(id=report_id, position=position)
