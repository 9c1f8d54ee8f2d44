"""uuid7 (chatalot/ids.py): ordered within a process, RFC 9562's version and variant, and
random bits drawn from a block of OS random bytes that a forked child never shares."""

from __future__ import annotations

import os
import uuid

from chatalot.ids import uuid7


def _random_bits(u: uuid.UUID) -> int:
    return u.int & ((1 << 62) - 1)


def test_ids_are_ordered_unique_and_well_formed() -> None:
    ids = [uuid7() for _ in range(20_000)]  # several blocks of random bytes
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {u.version for u in ids} == {7}
    assert {u.variant for u in ids} == {uuid.RFC_4122}
    assert len({_random_bits(u) for u in ids}) == len(ids)


def test_a_forked_child_draws_other_random_bits_than_its_parent() -> None:
    uuid7()  # the block is filled before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids' random bits to the parent
        try:
            os.write(write, b"".join(_random_bits(uuid7()).to_bytes(8, "big")
                                     for _ in range(8)))
        finally:
            os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 64):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    child = {int.from_bytes(data[i:i + 8], "big") for i in range(0, len(data), 8)}
    parent = {_random_bits(uuid7()) for _ in range(8)}
    assert len(child) == 8
    assert not child & parent
