"""A staged blob hashes and writes each batch in two worker threads at once
(chatalot/files/storage.py): the bytes and the hash still come out in order, and a
blob given up while a batch is in its threads is closed and removed only once both are
done with it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import random
import threading
import time
from pathlib import Path

from chatalot.files.storage import CHUNK, LocalBlobStorage


def pieces(total: int, seed: int) -> list[bytes]:
    """Uneven pieces (as the HTTP stack hands them over), many batches' worth."""
    rng = random.Random(seed)
    out, left = [], total
    while left:
        n = min(left, rng.choice([1, 17, 4096, 65536, 262144, 300001]))
        out.append(os.urandom(n))
        left -= n
    return out


async def test_batches_come_out_in_order(tmp_path: Path) -> None:
    storage = LocalBlobStorage(tmp_path)
    data = pieces(9 * CHUNK + 12345, seed=1)
    staged = storage.staging()
    for piece in data:
        await staged.write(piece)
    digest = await staged.finish()
    whole = b"".join(data)
    assert digest == hashlib.sha256(whole).hexdigest()
    assert staged.path.read_bytes() == whole
    assert staged.size == len(whole)


async def test_concurrent_uploads_do_not_mix(tmp_path: Path) -> None:
    storage = LocalBlobStorage(tmp_path)
    datas = [pieces(4 * CHUNK + i, seed=i) for i in range(6)]

    async def one(data: list[bytes]) -> tuple[str, bytes]:
        staged = storage.staging()
        for piece in data:
            await staged.write(piece)
            await asyncio.sleep(0)
        return await staged.finish(), staged.path.read_bytes()

    results = await asyncio.gather(*(one(d) for d in datas))
    for data, (digest, stored) in zip(datas, results, strict=True):
        whole = b"".join(data)
        assert digest == hashlib.sha256(whole).hexdigest()
        assert stored == whole


async def test_abort_and_discard_mid_batch_remove_the_file(tmp_path: Path) -> None:
    storage = LocalBlobStorage(tmp_path)
    for give_up in ("abort", "discard"):
        staged = storage.staging()
        await staged.write(os.urandom(CHUNK + 1))  # a batch is now in its threads
        await staged.write(b"more")
        if give_up == "abort":
            await staged.abort()
        else:
            staged.discard()
            for _ in range(200):  # closed and removed once both threads are done
                if not staged.path.exists():
                    break
                await asyncio.sleep(0.01)
        assert not staged.path.exists()
    assert list(storage.stage_dir.iterdir()) == []


async def test_a_request_cancelled_mid_batch_leaves_no_file(tmp_path: Path) -> None:
    """Cancelling the writer while it waits for a batch never closes the file under a
    running write: abort afterwards waits for both threads, then removes it."""
    storage = LocalBlobStorage(tmp_path)
    staged = storage.staging()
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    writing = threading.Event()
    real_write = staged._write_sync

    def slow_write(chunks: list[bytes]) -> None:  # a slow disk: the write outlives the cancel
        writing.set()
        time.sleep(0.3)
        real_write(chunks)

    staged._write_sync = slow_write  # type: ignore[method-assign]

    async def upload() -> None:
        while True:
            await staged.write(os.urandom(CHUNK))

    task = asyncio.create_task(upload())
    await asyncio.to_thread(writing.wait, 5)
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await staged.abort()
    assert not staged.path.exists()
    await asyncio.sleep(0.5)  # a write still running on a closed file would fail now
    gc.collect()  # and its unretrieved error would be reported here
    loop.set_exception_handler(previous)
    assert reported == []
