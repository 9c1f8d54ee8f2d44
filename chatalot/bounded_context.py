"""What a bounded context hands the composition root (chatalot/bootstrap.py): its event
types, its read models, its HTTP controllers, and how to get its runtime from the
process's services. Nothing else in the application lists them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from projections.projector import Projector


@dataclass(frozen=True)
class BoundedContext:
    name: str
    events: Sequence[type[msgspec.Struct]]
    projectors: Sequence[Callable[[], Projector]]
    controllers: Sequence[ControllerRouterHandler]
    runtimes: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    """Dependency name -> a function of the process's services giving this context's
    runtime; its handlers declare `<name>: NamedDependency[<Runtime>]`."""
    processes: Sequence[Callable[[Any], AbstractAsyncContextManager[Any]]] = ()
    """Background work every node runs while its services are open (a process manager):
    each is a function of the services giving a context that runs it until exit."""

    def router(self) -> Router:
        def provider(pick: Callable[[Any], Any]) -> Provide:
            def provide(state: State) -> Any:
                return pick(state.services)
            return Provide(provide, sync_to_thread=False)

        return Router(path="/", route_handlers=list(self.controllers),
                      dependencies={name: provider(pick) for name, pick in self.runtimes.items()})
