"""The accounts context as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.account import AccountController, TotpController
from chatalot.api.admin_users import (
    AdminInvitesController,
    AdminReportsController,
    AdminUsersController,
)
from chatalot.api.auth import AuthController
from chatalot.api.users import ReportsController, UsersController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.accounts.events import ACCOUNT_EVENTS
from projections.read_models.accounts import PROJECTORS

ACCOUNTS = BoundedContext(
    name="accounts",
    events=ACCOUNT_EVENTS,
    projectors=PROJECTORS,
    controllers=[AuthController, AccountController, TotpController, UsersController,
                 ReportsController, AdminUsersController, AdminInvitesController,
                 AdminReportsController],
    runtimes={"accounts": lambda services: services.accounts},
)
