"""Group commit of sends (chatalot/command_group.py): members that share one transaction
keep their own checks, refusals, client_id answers and positions; one member's failure
never fails the others."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from chatalot.command_group import CommandGroup
from chatalot.command_tx import CommandTx
from chatalot.domain.errors import DomainError
from chatalot.domain.messaging.events import MessageSent
from chatalot.domain.streams import message_stream
from chatalot.ids import uuid7
from chatalot.messaging import commands
from chatalot.messaging import contracts as c
from chatalot.messaging.commands.messages import _send_group
from chatalot.messaging.runtime import MessagingRuntime
from chatalot.request_info import RequestInfo
from event_store import NO_STREAM, ConcurrencyError, Metadata, NewEvent, Position
from tests.messaging.conftest import Msg, b64, text_of


def _call(msg: Msg, make: Any) -> Any:
    """Run `make()` (a coroutine factory) on the app's own event loop."""
    return msg.client.blocking_portal.call(make)


async def test_a_group_commits_its_members_and_refuses_only_the_refused(msg: Msg) -> None:
    space = await msg.space(members=2)
    alice, bob = space.members
    ch = space.channel_id
    outsider = await msg.api.register()
    await msg.patch_channel(space.owner, ch, slow_mode_secs=30)
    rt = MessagingRuntime.of(msg.client.app.state.services)
    retried, replayed = uuid.uuid4(), uuid.uuid4()

    def send(user: Any, text: str, client_id: uuid.UUID | None = None,
             channel: str = ch) -> Any:
        req = c.SendMessage(ciphertext=b64(text), encryption="none", client_id=client_id)
        return commands.send_message(rt, uuid.UUID(user.id), uuid.UUID(channel), req,
                                     RequestInfo(correlation_id=text))

    async def together() -> tuple[list[Any], dict[int, int]]:
        group = _send_group(rt)
        before = dict(group.sizes)
        out = await asyncio.gather(
            send(alice, "a1"), send(outsider, "x"), send(alice, "a2", retried),
            send(bob, "b1", replayed), send(bob, "b1 again", replayed),
            send(bob, "nowhere", channel=str(uuid.uuid4())), return_exceptions=True)
        return out, {k: v - before.get(k, 0) for k, v in group.sizes.items()
                     if v != before.get(k, 0)}

    store = msg.client.app.state.services.store
    appended: list[int] = []
    observe = store.on_append
    store.on_append = lambda n, secs: (appended.append(n), observe and observe(n, secs))
    try:
        (a1, x, a2, b1, b1_again, nowhere), sizes = _call(msg, together)
    finally:
        store.on_append = observe
    assert appended == [2]  # the append metrics see the group's one statement
    assert sizes == {6: 1}  # one transaction for all six
    assert isinstance(nowhere, DomainError) and nowhere.code == "not_found"
    assert isinstance(x, DomainError) and x.code == "forbidden"
    assert isinstance(a2, DomainError) and a2.code == "slow_mode"  # alice's a1 came first
    assert not isinstance(a1, BaseException) and not isinstance(b1, BaseException)
    assert b1_again == b1  # the same client_id in one group: the first send's reply
    positions = [Position.parse(r[1]) for r in (a1, b1)]
    assert len(set(positions)) == 2
    # the refused send's client_id claim went with it: its retry sends, once
    msg.api.clock.advance(30)
    again = await msg.send(alice, ch, "a2", client_id=str(retried))
    assert await msg.send(alice, ch, "a2", client_id=str(retried)) == again
    page = await msg.history(alice, ch, again["position"])
    assert sorted(text_of(m) for m in page["items"]) == ["a1", "a2", "b1"]


def _grouped(msg: Msg, before: Any, message_id: Any = lambda i: uuid7()
             ) -> tuple[CommandGroup[uuid.UUID], list[Any]]:
    """Three members of one group, each sending one message after `before(tx, i)`."""
    group: CommandGroup[uuid.UUID] = CommandGroup(msg.client.app.state.services.store)
    channel, sender = uuid.uuid4(), uuid.uuid4()

    def sends(i: int) -> Any:
        async def work(tx: CommandTx) -> uuid.UUID:
            await before(tx, i)
            mid = message_id(i)
            tx.append(message_stream(mid), MessageSent(
                message_id=mid, channel_id=channel, sender_id=sender, ciphertext=b64("g"),
                nonce="", encryption="none", message_type="text"), expected=NO_STREAM)
            return mid
        return work

    async def together() -> list[Any]:
        return await asyncio.gather(*(
            group.run(Metadata(command="grouped"), _now, sends(i), bytes([i]))
            for i in range(3)), return_exceptions=True)

    return group, _call(msg, together)


async def test_an_unexpected_failure_of_one_member_fails_it_alone(msg: Msg) -> None:
    """A SQL error aborts the group's transaction for every member: the members then run
    one by one, and only the failing one fails."""
    async def before(tx: CommandTx, i: int) -> None:
        if i == 1:
            await tx.execute("SELECT 1 / 0")

    group, (first, failed, third) = _grouped(msg, before)
    assert isinstance(failed, psycopg.errors.DivisionByZero)
    assert group.sizes == {3: 1} and group.groups == 0
    store = msg.client.app.state.services.store
    for mid, position in (first, third):
        # on the app's loop, where its pool lives
        [event] = _call(msg, lambda mid=mid: store.read_stream(message_stream(mid)))
        assert event.position.encode() == position


async def test_a_member_whose_stream_exists_fails_alone(msg: Msg) -> None:
    """A member's new stream already in the log fails the group's one append (the whole
    transaction): the group tries again as after a lost race, then its members run one
    by one, and only that member fails, with the conflict it gets alone."""
    store = msg.client.app.state.services.store
    taken = uuid7()
    _call(msg, lambda: store.append(message_stream(taken), [NewEvent(MessageSent(
        message_id=taken, channel_id=uuid.uuid4(), sender_id=uuid.uuid4(),
        ciphertext=b64("first"), nonce="", encryption="none", message_type="text"))],
        NO_STREAM))

    async def before(tx: CommandTx, i: int) -> None:
        return None

    group, (first, failed, third) = _grouped(
        msg, before, lambda i: taken if i == 1 else uuid7())
    assert isinstance(failed, ConcurrencyError), failed
    assert group.sizes == {3: 1} and group.groups == 0
    for mid, position in (first, third):
        [event] = _call(msg, lambda mid=mid: store.read_stream(message_stream(mid)))
        assert event.position.encode() == position
    [only] = _call(msg, lambda: store.read_stream(message_stream(taken)))
    assert only.data.ciphertext == b64("first")


async def test_a_killed_connection_fails_the_group_without_running_it_again(
        msg: Msg) -> None:
    """The backend dies under the group (its COMMIT could have been the lost reply): no
    member runs a second time, which could send a message twice; each fails, as a
    command alone would (503)."""
    calls: list[int] = []

    async def before(tx: CommandTx, i: int) -> None:
        calls.append(i)
        if i == 2:
            await tx.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    group, outcomes = _grouped(msg, before)
    assert group.sizes == {3: 1}
    assert sorted(calls) == [0, 1, 2]  # each member's work ran once, in the group
    assert all(isinstance(o, psycopg.OperationalError) for o in outcomes), outcomes


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("senders", [8])
async def test_concurrent_sends_through_http_each_land_once(msg: Msg, senders: int) -> None:
    """Many sends at once (groups form): every one answers 201 with its own position,
    and history shows each once."""
    space = await msg.space(members=senders)
    ch = space.channel_id
    requests = [("POST", f"/api/channels/{ch}/messages",
                 {"json": {"ciphertext": b64(f"{u.id} {i}"), "encryption": "none"},
                  "headers": u.auth}) for i in range(3) for u in space.members]
    replies = await msg.api.concurrently(*requests)
    assert {r.status_code for r in replies} == {201}, [r.text for r in replies]
    positions = [r.json()["position"] for r in replies]
    assert len(set(positions)) == len(requests)
    last = max(positions, key=Position.parse)
    page = await msg.history(space.owner, ch, last, limit=100)
    assert len(page["items"]) == len(requests)
