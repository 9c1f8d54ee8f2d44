"""Files tests: the real app on a fresh PostgreSQL database per test (the accounts
fixtures), channels built through HTTP by the spaces builder, files uploaded and read back
through HTTP. The blob directory is the test's own data directory."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatalot.config import Limits, Settings
from tests.accounts.conftest import (  # noqa: F401 - fixtures
    Api,
    api,
    clock,
    fast_database_url,
    make_settings,
)
from tests.spaces.builders import Space, SpacesBuilder

MIB = 1024 * 1024
PDF = b"%PDF-1.7\n"


def pdf(size: int, seed: int = 0) -> bytes:
    """`size` bytes that are a PDF to the type check (distinct per seed)."""
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (PDF + body)[:size]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """3 MiB a file, a quota of 8 MiB, 10 uploads a minute."""
    return make_settings(tmp_path, limits=Limits(
        rate_limit_general_per_sec=10_000, rate_limit_general_burst=10_000,
        rate_limit_auth_per_sec=10_000, rate_limit_auth_burst=10_000,
        max_file_size_mb=3, upload_quota_mb=8, uploads_per_minute=10))


@dataclass
class Stored:
    id: str
    body: dict[str, Any]


class FilesApi:
    def __init__(self, api: Api) -> None:  # noqa: F811 - a parameter, not the fixture
        self.api = api
        self.client = api.client
        self.spaces = SpacesBuilder(api)
        self.blob_root = Path(api.settings.data_dir) / "files" / "blobs"

    async def space(self, members: int = 2) -> Space:
        return await self.spaces.community_with_channel(members=members)

    def form(self, channel_id: str, data: bytes, name: str = "doc.pdf",
             encrypted: bool | None = None, **extra: str) -> dict[str, Any]:
        fields = {"channel_id": channel_id, **extra}
        if encrypted is not None:
            fields["encrypted"] = "true" if encrypted else "false"
        return {"data": fields, "files": {"file": (name, data, "application/octet-stream")}}

    async def upload(self, user: Any, channel_id: str, data: bytes, name: str = "doc.pdf",
                     encrypted: bool | None = None, **extra: str) -> httpx.Response:
        return await self.client.post("/api/files/upload", headers=user.auth,
                                      **self.form(channel_id, data, name, encrypted, **extra))

    async def stored(self, user: Any, channel_id: str, data: bytes, name: str = "doc.pdf",
                     encrypted: bool | None = None) -> Stored:
        r = await self.upload(user, channel_id, data, name, encrypted)
        assert r.status_code == 201, r.text
        return Stored(r.json()["id"], r.json())

    async def download(self, user: Any, file_id: str, **headers: str) -> httpx.Response:
        return await self.client.get(f"/api/files/{file_id}", headers={**user.auth, **headers})

    def blob_exists(self, sha256: str) -> bool:
        return (self.blob_root / sha256[:2] / sha256[2:4] / sha256).exists()

    def blob_count(self) -> int:
        return sum(1 for p in self.blob_root.rglob("*") if p.is_file())

    async def wait_until(self, predicate: Any, seconds: float = 10.0) -> None:
        """Until the background collector has done its part (it polls every second)."""
        for _ in range(int(seconds * 20)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the condition did not hold in time")


@pytest.fixture
def files(api: Api) -> FilesApi:  # noqa: F811 - the accounts fixture
    return FilesApi(api)
