"""A socket's send queue (chatalot/ws/socket.py) as a plain object, with Hypothesis: replies
jump the queue, each lane keeps its order, nothing is lost or duplicated below the bound,
and past the bound the socket is closed 1013 (slow consumer) rather than grow."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from chatalot.ws.socket import SLOW_CONSUMER_CLOSE, Close, Socket

Op = tuple[str, int]
ops = st.lists(st.tuples(st.sampled_from(["push", "reply", "take"]), st.integers(0, 3)),
               max_size=80)


def drain(sock: Socket, out: list[bytes | Close]) -> None:
    while (item := sock.take()) is not None:
        out.append(item)
        if isinstance(item, Close):
            return


@given(ops, st.integers(4, 40))
def test_replies_first_each_lane_in_order_within_the_bound(plan: list[Op], limit: int
                                                           ) -> None:
    sock = Socket(uuid.uuid4(), uuid.uuid4(), limit)
    out: list[bytes | Close] = []
    pushed: list[bytes] = []
    replied: list[bytes] = []
    for n, (op, takes) in enumerate(plan):
        if sock.closing is not None:
            break
        if op == "push":
            pushed.append(b"q%d" % n)
            sock.push(pushed[-1])
        elif op == "reply":
            replied.append(b"r%d" % n)
            sock.reply(replied[-1])
        else:
            for _ in range(takes):
                if (item := sock.take()) is not None:
                    out.append(item)
        assert sock.queued() <= limit
    if sock.closing is not None:  # the bound was passed: closed, nothing grows
        assert sock.closing.code == SLOW_CONSUMER_CLOSE
        assert sock.take() == sock.closing and sock.queued() == 0
        return
    drain(sock, out)
    frames = [f for f in out if isinstance(f, bytes)]
    assert [f for f in frames if f.startswith(b"q")] == pushed
    assert [f for f in frames if f.startswith(b"r")] == replied


@given(st.integers(1, 30), st.integers(1, 30))
def test_a_reply_is_taken_before_everything_already_queued(queued: int, replies: int) -> None:
    sock = Socket(uuid.uuid4(), uuid.uuid4(), 1000)
    for n in range(queued):
        sock.push(b"q%d" % n)
    for n in range(replies):
        sock.reply(b"r%d" % n)
    taken = [sock.take() for _ in range(queued + replies)]
    assert taken[:replies] == [b"r%d" % n for n in range(replies)]
    assert taken[replies:] == [b"q%d" % n for n in range(queued)]
    assert sock.take() is None
