"""The key server as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.keys import KeysController, SenderKeysController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.keys.events import KEY_EVENTS
from chatalot.keys.runtime import KeyServerRuntime
from projections.read_models.keys import PROJECTORS

KEYS = BoundedContext(
    name="keys",
    events=KEY_EVENTS,
    projectors=PROJECTORS,
    controllers=[KeysController, SenderKeysController],
    runtimes={"keys": lambda services: KeyServerRuntime(
        services.store, services.pool, services.limiter, services.accounts.clock),
        # PUT /keys/identity confirms the password as the accounts context does
        "accounts": lambda services: services.accounts},
)
