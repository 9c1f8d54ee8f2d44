"""Where file bytes live: one small interface, content-addressed by SHA-256.

`BlobStorage` is all the rest of the application knows. A blob is written to a staging
area first (`staging()`: the upload streams into it, hashing on the way), then `place`d
under its hash; placing a hash already present just drops the staged copy, so one file
uploaded twice is stored once. Events and tables name blobs by hash only, never by path,
so an S3-compatible backend can replace the local one (docs/files.md).

`LocalBlobStorage` keeps blobs under `<data dir>/files/blobs/ab/cd/<sha256>` and stages in
`<data dir>/files/staging/` on the same filesystem (so placing is an atomic rename); with
several nodes the directory is a shared volume. Its file operations run in worker threads,
off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024


class StagedBlob:
    """A file being written to staging: append bytes (hashed on the way), then place it or
    discard it. Bytes are handed over in batches of about 1 MiB, one batch at a time, while
    the next one is gathered: the batch is hashed in one worker thread and written in
    another at the same time (both release the GIL), so hashing, writing and receiving
    overlap on separate cores. An upload holds at most about two batches in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in finish/discard
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._hashing: asyncio.Future[None] | None = None
        self._writing: asyncio.Future[None] | None = None
        """the batch's write (the only user of the file besides close)"""

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= CHUNK:
            await self._flush()

    def _take_running(self) -> list[asyncio.Future[None]]:
        running = [f for f in (self._hashing, self._writing) if f is not None]
        self._hashing = self._writing = None
        return running

    async def _settle(self) -> None:
        """Wait for the batch in the workers, then raise what either raised. Waited on
        with `asyncio.wait`, which never cancels them: a cancelled request cannot close
        the file under a write still running in its thread."""
        running = [f for f in (self._hashing, self._writing) if f is not None]
        if not running:
            return
        await asyncio.wait(running)  # cancelled here: they stay set, for abort to wait on
        self._take_running()
        errors = [f.exception() for f in running if not f.cancelled()]
        for error in errors:
            if error is not None:
                raise error

    async def _flush(self) -> None:
        """Wait for the batch being hashed and written, then start on the gathered one."""
        await self._settle()
        if not self._pending:
            return
        chunks = self._pending
        self._pending, self._pending_size = [], 0
        loop = asyncio.get_running_loop()
        # the chunks as received, not joined into one more copy: hashlib releases the GIL
        # for all but tiny ones, and the buffered file passes large ones straight on
        self._hashing = loop.run_in_executor(None, self._hash_sync, chunks)
        self._writing = loop.run_in_executor(None, self._write_sync, chunks)

    def _hash_sync(self, chunks: list[bytes]) -> None:
        update = self._hash.update
        for chunk in chunks:
            update(chunk)

    def _write_sync(self, chunks: list[bytes]) -> None:
        assert self._file is not None
        write = self._file.write
        for chunk in chunks:
            write(chunk)

    async def finish(self) -> str:
        """Write what is left and close; returns the hex SHA-256 of everything written."""
        await self._flush()
        await self._settle()
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None
        return self._hash.hexdigest()

    async def abort(self) -> None:
        """Discard, once the batch in its threads (if any) is done with the file."""
        running = self._take_running()
        if running:
            await asyncio.wait(running)
            for future in running:
                if not future.cancelled():
                    future.exception()  # retrieved: the upload's own error is what counts
        self._close_and_unlink()

    def discard(self) -> None:
        running = self._take_running()
        if running:
            # a batch still in its threads: close the file once both are done with it
            left = len(running)

            def done(future: asyncio.Future[None]) -> None:
                nonlocal left
                if not future.cancelled():
                    future.exception()
                left -= 1
                if left == 0:
                    self._close_and_unlink()

            for future in running:
                future.add_done_callback(done)
            return
        self._close_and_unlink()

    def _close_and_unlink(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class BlobStorage(Protocol):
    """The storage backend. Blobs are immutable and named by their SHA-256."""

    def staging(self) -> StagedBlob:
        """A new, empty staged blob (written to, then placed or discarded)."""
        ...

    def staging_path(self) -> Path:
        """A fresh path in the staging area, for a blob produced by a worker (re-encoded
        image, thumbnail) to be placed with `place_path`."""
        ...

    async def place(self, staged: StagedBlob, sha256: str) -> None:
        """Store the staged bytes as blob `sha256` (a no-op if it is already stored)."""
        ...

    async def place_path(self, path: Path, sha256: str) -> None: ...

    async def exists(self, sha256: str) -> bool: ...

    async def size(self, sha256: str) -> int | None: ...

    def read(self, sha256: str, first: int = 0, last: int | None = None
             ) -> AsyncIterator[bytes]:
        """The bytes first..last (inclusive), in chunks of about 1 MiB."""
        ...

    async def delete(self, sha256: str) -> None:
        """Remove the blob's bytes (missing is fine: deletion may be retried)."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """Where the blob is a local file (for zero-copy sending), or None."""
        ...

    async def sweep_staging(self, older_than_secs: float) -> int:
        """Remove staged files abandoned by crashed uploads; returns how many."""
        ...


class LocalBlobStorage:
    """BlobStorage on a local (or shared) directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.stage_dir = root / "staging"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.stage_dir.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256")
        return self.blobs / sha256[:2] / sha256[2:4] / sha256

    def staging_path(self) -> Path:
        return self.stage_dir / f"{uuid.uuid4().hex}.part"

    def staging(self) -> StagedBlob:
        return StagedBlob(self.staging_path())

    async def place(self, staged: StagedBlob, sha256: str) -> None:
        await self.place_path(staged.path, sha256)

    async def place_path(self, path: Path, sha256: str) -> None:
        await asyncio.to_thread(self._place_sync, path, self.path_of(sha256))

    @staticmethod
    def _place_sync(source: Path, target: Path) -> None:
        if target.exists():
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(source, 0o640)
        os.replace(source, target)  # atomic on one filesystem; same bytes if a racer won

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).exists)

    async def size(self, sha256: str) -> int | None:
        try:
            stat = await asyncio.to_thread(os.stat, self.path_of(sha256))
        except FileNotFoundError:
            return None
        return stat.st_size

    async def read(self, sha256: str, first: int = 0, last: int | None = None
                   ) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self.path_of(sha256), "rb")
        try:
            await asyncio.to_thread(handle.seek, first)
            remaining = None if last is None else last - first + 1
            while remaining is None or remaining > 0:
                want = CHUNK if remaining is None else min(CHUNK, remaining)
                data = await asyncio.to_thread(handle.read, want)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path_of(sha256).unlink, missing_ok=True)

    def local_path(self, sha256: str) -> Path | None:
        return self.path_of(sha256)

    async def sweep_staging(self, older_than_secs: float) -> int:
        def sweep() -> int:
            cutoff = time.time() - older_than_secs
            removed = 0
            for entry in self.stage_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        entry.unlink()
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)
