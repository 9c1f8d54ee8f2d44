"""The projection runner: leads projectors (one node each), and for each one it leads, runs
the builds its plan calls for, retrying failures with back-off.

    runner = ProjectionRunner(store, [EventStats()], on_advance=watcher.advance)
    await runner.start()     # returns at once; work happens in background tasks
    ...
    await runner.close()     # releases leadership: another node takes over

Each projector is isolated: a failing event stops only the build it belongs to (visible in
status with its position and error), and every other projector goes on.

A new build (a rebuild beside the active one) is loaded under a lock of its own, so that
it can run elsewhere than its projector's leader: a serving node's runner (`hand_off`)
leaves it to a runner with `take_rebuilds` (`chatalot projections rebuild`) for a while,
which loads and flips it and stops; the leader runs it live from then on, or loads it
itself, resuming from its checkpoint, when no such runner takes or keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import psycopg

from event_store import EventStore, Position
from projections import catalog
from projections.backoff import Backoff
from projections.catalog import Build
from projections.errors import EventFailed, Retired, is_transient
from projections.leadership import Leadership, build_lock_name, lock_name
from projections.notifications import Listener, Notifier
from projections.options import RunnerOptions
from projections.projector import Projector, validate
from projections.tasks import stop
from projections.worker import BuildWorker, describe

log = logging.getLogger(__name__)


class ProjectionRunner:
    def __init__(
        self,
        store: EventStore,
        projectors: Iterable[Projector],
        *,
        options: RunnerOptions | None = None,
        on_advance: Callable[[str, Position], None] | None = None,
    ) -> None:
        self.store = store
        self.projectors = validate(projectors, store.registry)
        self.options = options or RunnerOptions()
        self._on_advance = on_advance
        self._notifier = Notifier(store.conninfo, self._connect_kwargs())
        self._listener = Listener(
            store.conninfo, self._connect_kwargs(), self._on_message, self._poke_all,
            application_name=f"projections-runner-{self.options.node}",
        )
        self._controls = {name: asyncio.Event() for name in self.projectors}
        self._generations = dict.fromkeys(self.projectors, 0)
        self._supervisors: dict[str, asyncio.Task[None]] = {}
        self._leadership: asyncio.Task[None] | None = None
        self.leading: set[str] = set()
        """Names of the projectors this runner holds the lock of right now."""
        self.lock_backend_pid: int | None = None
        self._session: Leadership | None = None
        self._awaiting: set[int] = set()
        """Builds whose worker waits for the build's lock (handed off to another process)."""
        self._closing = False

    def _connect_kwargs(self) -> dict[str, object]:
        kwargs = dict(self.store.connect_kwargs)
        kwargs.pop("autocommit", None)
        return kwargs

    async def start(self) -> None:
        self._notifier.start()
        self._listener.start()
        self._leadership = asyncio.create_task(self._hold_leadership(), name="projections.lead")

    async def close(self) -> None:
        self._closing = True  # loops end even if a cancellation gets lost on the way
        for control in self._controls.values():
            control.set()
        await stop(self._leadership)
        self._leadership = None
        await self._listener.close()
        await self._notifier.close()

    async def __aenter__(self) -> ProjectionRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- signals from workers and other processes --------------------------------------------

    def poke(self, name: str) -> None:
        """Re-plan `name` now (a rebuild was requested, a build flipped, ...)."""
        control = self._controls.get(name)
        if control is not None:
            control.set()

    async def _poke_all(self) -> None:
        for control in self._controls.values():
            control.set()

    def _on_message(self, payload: str) -> None:
        kind, _, name = payload.partition(" ")
        if kind in ("reset", "flip"):
            self._bump(name)
        if kind in ("rebuild", "reset", "flip"):
            self.poke(name)

    def _bump(self, name: str) -> None:
        if name in self._generations:
            self._generations[name] += 1

    def generation(self, name: str) -> int:
        """Moves whenever a build of `name` flips or is reset: a worker that moved its
        position in memory only then writes it, learning whether it is still active."""
        return self._generations.get(name, 0)

    def advanced(self, name: str, position: Position, *, active: bool) -> None:
        """A batch committed; readers of the active build may wake."""
        if active:
            if self._on_advance is not None:
                self._on_advance(name, position)
            self._notifier.advance(name, position)

    def flipped(self, name: str) -> None:
        self._bump(name)
        self.poke(name)

    # -- leadership ------------------------------------------------------------------------------

    async def _hold_leadership(self) -> None:
        backoff = Backoff(0.1, 5.0)
        while not self._closing:
            try:
                async with Leadership(
                    self.store.conninfo, self._connect_kwargs(),
                    f"projections-lock-{self.options.node}",
                ) as leadership:
                    self.lock_backend_pid = await leadership.backend_pid()
                    self._session = leadership
                    backoff.reset()
                    while not self._closing:
                        for name, projector in self.projectors.items():
                            if name in self.leading:
                                continue
                            if await leadership.try_acquire(lock_name(name, projector.version)):
                                log.info("leading projection %s on %s", name, self.options.node)
                                self.leading.add(name)
                                self._supervisors[name] = asyncio.create_task(
                                    self._supervise(projector), name=f"projections.{name}"
                                )
                        if self.options.take_rebuilds:
                            try:
                                await self._take_rebuilds(leadership)
                            except Exception as exc:  # the next lease tries again
                                log.warning("projection rebuilds not looked up: %s",
                                            describe(exc))
                                await leadership.check()
                        await asyncio.sleep(self.options.lease_interval)
                        await leadership.check()
            except (psycopg.Error, OSError) as exc:
                log.warning("projection leadership lost (%s); stopping its projectors",
                            type(exc).__name__)
            finally:
                await self._stop_supervisors()
            await asyncio.sleep(backoff.next())

    async def _stop_supervisors(self) -> None:
        await stop(*self._supervisors.values())
        self._supervisors.clear()
        self.leading.clear()
        self.lock_backend_pid = None
        self._session = None

    # -- builds handed off by the leaders of other nodes ---------------------------------------

    async def _take_rebuilds(self, leadership: Leadership) -> None:
        """Take the lock of any new build (not yet answering queries) of a projector led
        elsewhere, and build it here until it flips."""
        others = [p for n, p in self.projectors.items() if n not in self.leading]
        if not others:
            return
        async with self.store.pool.connection() as conn:
            found: list[tuple[Projector, Build]] = []
            for projector in others:
                for build in await catalog.load_builds(conn, projector.name):
                    found.append((projector, build))
            active = await catalog.active_builds(conn)
        for projector, build in found:
            key = f"build:{build.build}"
            if (build.state == "retired" or build.version != projector.version
                    or active.get(projector.name) in (None, build.build)
                    or key in self._supervisors):
                continue
            if await leadership.try_acquire(build_lock_name(build)):
                log.info("projection %s: building build %s here for its leader",
                         projector.name, build.build)
                self._supervisors[key] = asyncio.create_task(
                    self._build_for_leader(projector, build, key),
                    name=f"projections.{projector.name}.{build.build}.taken",
                )

    async def _build_for_leader(self, projector: Projector, build: Build, key: str) -> None:
        session = self._session
        try:
            await self._work(projector, build, until_active=True)
        finally:
            self._supervisors.pop(key, None)
            await self._release(session, build)

    async def _release(self, session: Leadership | None, build: Build) -> None:
        if session is not None and session is self._session:
            with contextlib.suppress(psycopg.Error, OSError):
                await session.release(build_lock_name(build))

    # -- one projector -------------------------------------------------------------------------

    async def _supervise(self, projector: Projector) -> None:
        backoff = Backoff(self.options.retry_base, self.options.retry_max)
        while not self._closing:
            try:
                await self._lead(projector)
            except Exception as exc:
                log.warning("projection %s: planning failed: %s", projector.name, describe(exc))
            await asyncio.sleep(backoff.next())

    async def _lead(self, projector: Projector) -> None:
        name = projector.name
        control = self._controls[name]
        workers: dict[int, asyncio.Task[None]] = {}
        warned = False
        try:
            while not self._closing:
                control.clear()
                async with self.store.pool.connection() as conn, conn.transaction():
                    plan = await catalog.plan(conn, projector, drop_delay=self.options.drop_delay)
                if plan.superseded and not warned:
                    log.warning("projection %s: a newer version (v%s) is active; this node's"
                                " v%s stays idle", name, plan.active and plan.active.version,
                                projector.version)
                warned = plan.superseded
                wanted = {build.build: build for build in plan.run}
                active_id = plan.active.build if plan.active is not None else None
                restarted = False
                for build_id, task in list(workers.items()):
                    # a build handed off to another process flipped there: run it from here
                    taken_over = build_id == active_id and build_id in self._awaiting
                    if build_id not in wanted or task.done() or taken_over:
                        restarted = restarted or (task.done() and build_id in wanted)
                        await stop(task)
                        self._awaiting.discard(build_id)
                        del workers[build_id]
                if restarted:
                    await asyncio.sleep(0.1)
                for build_id, build in wanted.items():
                    if build_id not in workers:
                        work = (self._work(projector, build) if build_id == active_id
                                else self._work_new(projector, build))
                        workers[build_id] = asyncio.create_task(
                            work, name=f"projections.{name}.{build_id}"
                        )
                timeout = self.options.recheck_interval
                for build in plan.drop:
                    if not await self._drop(build):
                        timeout = min(timeout, self.options.drop_delay)
                if plan.next_drop_in is not None:
                    timeout = min(timeout, plan.next_drop_in + 0.01)
                poked = asyncio.ensure_future(control.wait())
                try:
                    await asyncio.wait(
                        [poked, *workers.values()],
                        timeout=timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    poked.cancel()
        finally:
            await stop(*workers.values())

    async def _drop(self, build: Build) -> bool:
        try:
            async with self.store.pool.connection() as conn, conn.transaction():
                await catalog.drop_build(conn, build)
        except psycopg.Error as exc:
            log.warning("projection %s: build %s not dropped yet: %s", build.name, build.build,
                        describe(exc))
            return False
        log.info("projection %s: dropped replaced build %s (%s)", build.name, build.build,
                 build.schema)
        return True

    async def _work_new(self, projector: Projector, build: Build) -> None:
        """A build that does not answer queries yet: load it under its own lock, after
        leaving it `hand_off` seconds to a dedicated process."""
        loop = asyncio.get_running_loop()
        session = self._session
        not_before = loop.time() + (self.options.hand_off or 0.0)
        self._awaiting.add(build.build)
        try:
            while True:
                if (loop.time() >= not_before and session is not None
                        and await session.try_acquire(build_lock_name(build))):
                    break
                await asyncio.sleep(min(self.options.lease_interval,
                                        max(not_before - loop.time(), 0.01)))
        finally:
            self._awaiting.discard(build.build)
        try:
            await self._work(projector, build)
        finally:
            await self._release(session, build)

    async def _work(self, projector: Projector, build: Build, *,
                    until_active: bool = False) -> None:
        backoff = Backoff(self.options.retry_base, self.options.retry_max)
        while not self._closing:
            worker = BuildWorker(self, projector, build, until_active=until_active)
            try:
                await worker.run()
                return
            except Retired as exc:
                log.info("projection %s: build %s stops: %s", projector.name, build.build, exc)
                self.poke(projector.name)
                return
            except EventFailed:
                pass  # recorded with its position; retried below
            except Exception as exc:
                if is_transient(exc):
                    log.warning("projection %s: build %s interrupted: %s", projector.name,
                                build.build, describe(exc))
                else:
                    log.exception("projection %s: build %s failed", projector.name, build.build)
                    await self._record(build, worker.position, exc)
            if worker.progressed:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _record(self, build: Build, position: Position, exc: BaseException) -> None:
        with contextlib.suppress(psycopg.Error, OSError):
            async with self.store.pool.connection() as conn:
                await conn.execute(
                    "UPDATE projection_builds SET error = %s, failed_position = %s,"
                    " failed_at = clock_timestamp(), failures = failures + 1 WHERE build = %s",
                    (describe(exc), f"after {position.encode()}", build.build),
                )
