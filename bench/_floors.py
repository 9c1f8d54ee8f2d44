"""What this machine does without our server, measured beside the files benchmark's
transfers (bench/files.py): a plain copy of a file, the same bytes over a loopback TCP
connection to a receiver that discards them or does only what every upload must do with
each byte (read, SHA-256, write), and SHA-256 alone. A transfer's ratio to the copy
cannot beat these floors' ratios."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

MIB = 1024 * 1024


def copy_rate(source: Path, target_dir: Path, runs: int) -> float:
    size = source.stat().st_size
    times = []
    for i in range(runs):
        target = target_dir / f"copy-{i}"
        start = time.perf_counter()
        shutil.copyfile(source, target)  # no fsync: a stored blob is not synced either
        times.append(time.perf_counter() - start)
        target.unlink()
    return size / MIB / statistics.median(times)


@contextlib.contextmanager
def loopback_receiver(take: Callable[[socket.socket, memoryview], None]) -> Iterator[int]:
    """A plain TCP receiver on a free loopback port: `take` reads each connection to its
    end (through one reused 1 MiB buffer), then the receiver answers b"ok"."""
    listener = socket.create_server(("127.0.0.1", 0))
    buffer = memoryview(bytearray(MIB))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                take(conn, buffer)
                with contextlib.suppress(OSError):
                    conn.sendall(b"ok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)


def discard(conn: socket.socket, buffer: memoryview) -> None:
    """The floor under any HTTP server: the bytes read, and nothing else."""
    while conn.recv_into(buffer):
        pass


def store_in(target_dir: Path) -> Callable[[socket.socket, memoryview], None]:
    """What any upload server must do with each byte, and nothing else: read it, hash it
    (SHA-256, one stream: the content address and the blocked-hash check need it before
    the upload is answered) and write it to a new file."""
    counter = iter(range(1_000_000))

    def take(conn: socket.socket, buffer: memoryview) -> None:
        target = target_dir / f"floor-{next(counter)}"
        with open(target, "wb", buffering=0) as out:
            digest = hashlib.sha256()
            while size := conn.recv_into(buffer):
                digest.update(buffer[:size])
                out.write(buffer[:size])
            digest.hexdigest()
        target.unlink()
    return take


def sha256_rate(source: Path, runs: int) -> float:
    """SHA-256 of the file in memory, one stream in 1 MiB updates (hashlib, as the server
    hashes an upload), in MiB/s: the best of `runs`."""
    data = memoryview(source.read_bytes())
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        digest = hashlib.sha256()
        for offset in range(0, len(data), MIB):
            digest.update(data[offset:offset + MIB])
        best = min(best, time.perf_counter() - start)
    return len(data) / MIB / best


def loopback_rate(port: int, source: Path) -> float:
    """One loopback TCP transfer of the file (sendfile, as the native-like client sends
    it) to the discarding receiver, in MiB/s."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn, open(source, "rb") as handle:
        conn.sendfile(handle)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(16)
    return source.stat().st_size / MIB / (time.perf_counter() - start)
