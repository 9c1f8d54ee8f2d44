"""The node's hub: one log reader feeding every socket of this process.

Why not Litestar's channels plugin: it fans out what is published to it, but has no
positions and no replay (a subscriber that lags loses events; protocol.md requires resume
with no gap or duplicate, across restarts and nodes), and its audience is a channel name,
not "the members of this channel at delivery time". The log already is the shared,
ordered, durable bus: every node reads it with one `Subscription` (woken over Redis or
NOTIFY by the event store), so a message committed through node A reaches sockets on node
B without a second copy of the event in Redis. Only ephemeral signals, which are not in
the log, travel over a pub/sub bus (chatalot/ws/signals.py).

Per batch the hub routes each event once (chatalot/ws/routing.py: the frame is encoded
once, whatever the audience's size), asks the decision table once who among this node's
users may receive it, then puts the same bytes on each recipient socket's queue.

Channel membership is asked once and then remembered (`Members`) for as long as the log
shows only events whose commands never change a membership (messages, reactions, read
receipts, polls): a batch of those is delivered without a round trip to the database.
Any other event empties that memory before its batch is routed, so the answer for an
event reflects every membership change that precedes it in the log: a kicked member's
sockets receive nothing positioned after the kick, a new member's sockets receive
everything after the join. (Asking the table at delivery time, as a batch with any other
event still does, can also apply a change that follows the event in the log.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable

from chatalot.domain.streams import poll_stream
from chatalot.metrics import WS_MEMBERSHIP_QUESTIONS
from chatalot.ws.audience import Audience
from chatalot.ws.routing import Route, route
from chatalot.ws.socket import Socket
from event_store import EventStore, Position, RecordedEvent

log = logging.getLogger(__name__)

CLOSE_POLICY = 4003
REPLAY_PAGE = 500
POLLS_REMEMBERED = 100_000
MEMBERS_REMEMBERED = 200_000
"""(channel, user) answers kept between batches, at most (then forgotten, asked again)."""

MEMBERSHIP_NEUTRAL = frozenset({
    "MessageSent", "MessageEdited", "MessageDeleted", "MessagePinned", "MessageUnpinned",
    "ReactionAdded", "ReactionRemoved", "ReadCursorMoved",
    "PollCreated", "PollVoted", "PollVoteRemoved", "PollClosed",
})
"""Event types whose commands (chatalot/messaging) write no `channel_members` row. Every
other type, including any added later, makes the hub forget the memberships it knows."""


Pairs = set[tuple[uuid.UUID, uuid.UUID]]
NOBODY: frozenset[uuid.UUID] = frozenset()


def _index(pairs: Pairs) -> dict[uuid.UUID, set[uuid.UUID]]:
    by_key: dict[uuid.UUID, set[uuid.UUID]] = {}
    for key, user in pairs:
        by_key.setdefault(key, set()).add(user)
    return by_key


class Audiences:
    """The answers of the decision table for one batch, indexed by channel, subject and
    community: who among this node's users may receive an event is then a few set
    operations per event (decided once per event, never once per socket)."""

    def __init__(self, members: Pairs, sharers: Pairs, community: Pairs) -> None:
        self.members = _index(members)
        self.sharers = _index(sharers)
        self.community = _index(community)

    def recipients(self, r: Route, users: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        present = users if isinstance(users, (set, frozenset)) else set(users)
        if r.everyone:
            return set(present)
        out = set(r.users & present) if r.users else set()
        if r.channel_id is not None:
            out |= self.members.get(r.channel_id, NOBODY) & present
        if r.sharers_of is not None:
            out |= self.sharers.get(r.sharers_of, NOBODY) & present
        if r.community_id is not None:
            out |= self.community.get(r.community_id, NOBODY) & present
        if r.gate is not None:
            out &= self.members.get(r.gate, NOBODY)
        return out


class Members:
    """Who among this node's users is a member of which channel, remembered between the
    hub's batches while the log shows nothing that could change it (MEMBERSHIP_NEUTRAL):
    at 20 messages a second into one channel, one question to the database instead of
    one per batch. Only the hub's live feed uses it, in log order; replays and signals
    ask the table."""

    def __init__(self, limit: int = MEMBERS_REMEMBERED) -> None:
        self._limit = limit
        self._asked: dict[uuid.UUID, set[uuid.UUID]] = {}
        """channel -> the users whose membership of it is known."""
        self._members: dict[uuid.UUID, set[uuid.UUID]] = {}
        """channel -> the members among them."""
        self._size = 0

    def forget(self) -> None:
        self._asked.clear()
        self._members.clear()
        self._size = 0

    def observe(self, batch: Iterable[RecordedEvent]) -> None:
        """Before a batch is routed: forget everything if any of its events may come with
        a membership change (its command's transaction wrote the table)."""
        if self._size and any(e.type not in MEMBERSHIP_NEUTRAL for e in batch):
            self.forget()

    async def pairs(self, audience: Audience, channels: set[uuid.UUID],
                    users: set[uuid.UUID]) -> Pairs:
        """(channel, user) for every given user who is a member of a given channel."""
        unknown = {c: users - self._asked.get(c, NOBODY) for c in channels}
        need_users = set().union(*unknown.values()) if unknown else set()
        if need_users:
            # one question for every channel with an unknown user, about all of them
            need_channels = {c for c, who in unknown.items() if who}
            WS_MEMBERSHIP_QUESTIONS.inc()
            if self._size + len(need_channels) * len(need_users) > self._limit:
                # too many to keep: forget, and answer this batch as asked
                self.forget()
                return await audience.channel_members(channels, users)
            found = await audience.channel_members(need_channels, need_users)
            for c in need_channels:
                asked = self._asked.setdefault(c, set())
                self._size += len(need_users - asked)
                asked |= need_users
                self._members.setdefault(c, set())
            for c, u in found:
                self._members[c].add(u)
        return {(c, u) for c in channels for u in self._members.get(c, NOBODY) & users}


async def audiences_for(audience: Audience, routes: list[Route], users: set[uuid.UUID],
                        members: Members | None = None) -> Audiences:
    """One round trip's worth of questions for a whole batch (one pooled connection);
    none when `members` already knows the channels' members and nothing else is asked."""
    channels = {c for r in routes for c in (r.channel_id, r.gate) if c is not None}
    subjects = {r.sharers_of for r in routes if r.sharers_of is not None}
    communities = {r.community_id for r in routes if r.community_id is not None}
    if members is None:
        pairs, sharers, community = await audience.batch(channels, subjects, communities,
                                                         users)
    else:
        pairs = await members.pairs(audience, channels, users)
        _, sharers, community = await audience.batch((), subjects, communities, users)
    return Audiences(pairs, sharers, community)


class Hub:
    def __init__(self, store: EventStore, audience: Audience) -> None:
        self.store = store
        self.audience = audience
        self.sockets: dict[uuid.UUID, Socket] = {}
        self.by_user: dict[uuid.UUID, set[Socket]] = {}
        self.position: Position | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Lock()
        self._polls: dict[uuid.UUID, bool] = {}
        """poll_id -> anonymous (a poll's anonymity never changes)."""
        self.members = Members()

    async def start(self) -> None:
        async with self._started:
            if self._task is not None:
                return
            self.position = await self.store.head()
            self._task = asyncio.create_task(self._follow(), name="ws-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- sockets ----------------------------------------------------------------------

    def add(self, sock: Socket) -> None:
        self.sockets[sock.socket_id] = sock
        self.by_user.setdefault(sock.user_id, set()).add(sock)

    def remove(self, sock: Socket) -> None:
        self.sockets.pop(sock.socket_id, None)
        mine = self.by_user.get(sock.user_id)
        if mine is not None:
            mine.discard(sock)
            if not mine:
                del self.by_user[sock.user_id]

    def sockets_of(self, user_id: uuid.UUID) -> set[Socket]:
        return self.by_user.get(user_id, set())

    # -- the log reader ---------------------------------------------------------------

    async def _follow(self) -> None:
        """Read the log for as long as the process lives: a reader that fails starts
        again from the last batch it delivered (sockets miss nothing)."""
        while True:
            try:
                assert self.position is not None
                await self._read(self.position)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the gateway's log reader failed; restarting it")
                await asyncio.sleep(1.0)

    async def _read(self, after: Position) -> None:
        # prompt: woken before the projection readers, so that a batch is on the sockets'
        # queues before they start their work (with its memberships known, the fan-out
        # does not wait on anything)
        subscription = self.store.subscribe(after, batch_size=REPLAY_PAGE, poll_interval=1.0,
                                            name="ws-hub", prompt=True)
        self.members.forget()  # after a failure: start from the table again
        async for batch in subscription.batches():
            try:
                await self._fan_out(batch)
            except Exception:  # a bad batch must not stop delivery to every socket
                log.exception("gateway fan-out failed for a batch; sockets will resume")
                self.members.forget()
                for sock in list(self.sockets.values()):
                    sock.close(1011, "delivery failed: resume from your last position")
            self.position = batch[-1].position

    async def _routes(self, batch: list[RecordedEvent]) -> list[tuple[Position, Route]]:
        """Each event's route, with votes on anonymous polls anonymised."""
        pairs = []
        for e in batch:
            if e.type == "PollCreated":
                self._remember_poll(e.data.poll_id, bool(e.data.anonymous))
            if (r := route(e)) is not None:
                if r.poll_id is not None and await self._anonymous(r.poll_id):
                    r = r.anonymised()
                pairs.append((e.position, r))
        return pairs

    def _remember_poll(self, poll_id: uuid.UUID, anonymous: bool) -> None:
        if len(self._polls) >= POLLS_REMEMBERED:
            self._polls.clear()
        self._polls[poll_id] = anonymous

    async def _anonymous(self, poll_id: uuid.UUID) -> bool:
        """Whether a poll is anonymous, from its PollCreated in the log (never changes, so
        asked once per poll per process); a poll not found is treated as anonymous."""
        known = self._polls.get(poll_id)
        if known is None:
            created = await self.store.read_stream(poll_stream(poll_id), limit=1)
            known = not created or bool(getattr(created[0].data, "anonymous", True))
            self._remember_poll(poll_id, known)
        return known

    async def _fan_out(self, batch: list[RecordedEvent]) -> None:
        self.members.observe(batch)
        if not self.sockets:
            for e in batch:  # still learn which polls are anonymous
                if e.type == "PollCreated":
                    self._remember_poll(e.data.poll_id, bool(e.data.anonymous))
            return
        pairs = await self._routes(batch)
        if not pairs:
            return
        users = set(self.by_user)
        answers = await audiences_for(self.audience, [r for _, r in pairs], users,
                                      self.members)
        users = set(self.by_user)  # sockets may have come or gone during the query
        for position, r in pairs:
            self._close_for(r, self.sockets.values())
            if not r.frame:
                continue
            for user in answers.recipients(r, users):
                data = r.frame_for(user)
                for sock in self.sockets_of(user):
                    if r.channel_id is None or r.channel_id not in sock.muted or (
                            user in r.users):
                        sock.deliver(position, data)

    @staticmethod
    def _close_for(r: Route, sockets: Iterable[Socket]) -> None:
        if not (r.close_sessions or r.close_users):
            return
        for sock in list(sockets):
            if sock.session_id in r.close_sessions or sock.user_id in r.close_users:
                sock.close(CLOSE_POLICY, r.close_reason)

    # -- replay -----------------------------------------------------------------------

    async def attach(self, sock: Socket, after: Position,
                     caught_up: Callable[[Position], None] | None = None) -> Position:
        """Register the socket, replay what it may see after `after` from the log (paged,
        so a client offline for a day costs one page of memory), call `caught_up` (the
        `resumed` frame goes there), then hand it to the live feed with neither gap nor
        duplicate. Returns the position it is live from."""
        sock.replaying = True
        sock.last_sent = after
        self.add(sock)
        try:
            while True:
                await self._replay_pages(sock)
                if sock.closing is not None or not sock.overflowed:
                    break
                sock.overflowed = False  # live events were dropped: read them again
                sock.buffered.clear()
        finally:
            sock.replaying = False
            if caught_up is not None and sock.closing is None:
                caught_up(sock.last_sent or after)
            buffered, sock.buffered = sock.buffered, []
            for position, data in buffered:
                sock.deliver(position, data)
        return sock.last_sent or after

    async def _replay_pages(self, sock: Socket) -> None:
        while sock.closing is None:
            start = sock.last_sent
            assert start is not None
            page = await self.store.read_all(start, limit=REPLAY_PAGE)
            if not page:
                return
            pairs = await self._routes(page)
            answers = await audiences_for(self.audience, [r for _, r in pairs],
                                          {sock.user_id})
            for _, r in pairs:
                self._close_for(r, [sock])
                if r.frame and answers.recipients(r, {sock.user_id}) and (
                        r.channel_id is None or r.channel_id not in sock.muted):
                    sock.push(r.frame_for(sock.user_id))
            sock.last_sent = page[-1].position
            # back-pressure: the replay waits for the socket rather than outgrow its queue
            await sock.drained_enough()
