"""The spaces context as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.channels import ChannelsController, DmsController
from chatalot.api.communities import CommunitiesController, CommunityInvitesController
from chatalot.api.groups import GroupInvitesController, GroupsController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.spaces.events import SPACES_EVENTS
from chatalot.spaces.runtime import SpacesRuntime
from projections.read_models.spaces import PROJECTORS

SPACES = BoundedContext(
    name="spaces",
    events=SPACES_EVENTS,
    projectors=PROJECTORS,
    controllers=[CommunitiesController, CommunityInvitesController, GroupsController,
                 GroupInvitesController, ChannelsController, DmsController],
    runtimes={"spaces": lambda services: SpacesRuntime(
        services.store, services.pool, services.accounts.clock)},
)
