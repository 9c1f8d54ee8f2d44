"""Messaging: the full send path and the read paths at scale (issue 13 item 7).

    python bench/messaging.py [--quick]

Starts the server (`chatalot serve`) in a subprocess on a scratch database (an embedded
PostgreSQL when DATABASE_URL is unset), with rate limits lifted, builds a community with a
channel and 16 members through HTTP, then measures:

- send_1_sender / send_16_senders: messages/s through the whole command path (HTTP, token
  check, permission check, append, and the history projection showing the last one: the
  clock stops when a read at the last reply's position answers), beside the raw event
  store append rate of the same MessageSent events measured in this run, in this process
  (1 and 16 writers). Issue 13: >= 0.4 x raw at 16, and >= 1,580 msg/s absolute (25 x
  Synapse's 63 msg/s at 16 senders on this machine). The sends go through a lean
  keep-alive HTTP/1.1 client (LeanSender): httpx cost 1.1-2 ms of CPU per request on
  the same two cores as the server it measured.
- With N messages seeded into the log (1,000,000; --quick: 20,000; through the event
  store, 40% in the bench channel, the rest over 200 more channels the reader belongs to,
  with a read cursor 20 messages from each channel's end): history page of 50 p99
  (<= 20 ms), search p99 (<= 100 ms), unread counts of a user in 200 channels p99
  (<= 20 ms), measured once every projection is live at the head; then rebuilds of the
  messages projector (history and unreads: read cursors are its table) and the search
  one (>= 20,000 events/s over the whole log, index builds and the flip included).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import tempfile
import time
import uuid
from typing import Any

import httpx
import msgspec
import psycopg
from _common import percentile, progress, ratio_result, run_database_bench, target_result
from auth import free_port, key_fields, register, server, server_env

from chatalot.bootstrap import build_registry
from chatalot.db import make_pool
from chatalot.domain.messaging.events import MessageSent, ReadCursorMoved
from chatalot.domain.streams import message_stream, read_cursor_stream
from chatalot.ids import uuid7
from event_store import NO_STREAM, EventStore, NewEvent, Position
from event_store.bulk import append_new_streams

# Targets set by issue 13 (messaging), on a 2-core machine.
TARGET_SEND_RATIO_16 = 0.4  # HTTP sends/s at 16 senders vs raw event-store appends/s
TARGET_SEND_16 = 1580.0  # msg/s at 16 senders: 25 x Synapse 1.163's 63 msg/s here
TARGET_HISTORY_P99_MS = 20.0
TARGET_SEARCH_P99_MS = 100.0
TARGET_UNREAD_P99_MS = 20.0
TARGET_REBUILD_EVENTS_PER_SEC = 20_000.0
SEED_WRITERS = 2  # one per core: the database does the work
SEED_TX = 5000  # messages per seeding statement (and transaction)

LIFTED = {
    "CHATALOT_RATE_LIMIT_GENERAL_PER_SEC": "1000000",
    "CHATALOT_RATE_LIMIT_GENERAL_BURST": "1000000",
    "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "1000000", "CHATALOT_RATE_LIMIT_AUTH_BURST": "1000000",
    "CHATALOT_ARGON2_MEMORY_KIB": "8192", "CHATALOT_ARGON2_TIME_COST": "1",
    "CHATALOT_REBUILD_HAND_OFF_SECS": "0", "CHATALOT_REBUILD_SHARE": "1",
}
# The three read models and the projector that builds each. Unreads are the
# `messages` projector's read_cursors beside its messages (one build, so that a count
# joins cursors and messages of the same position): its rebuild is that one.
REBUILDS = [("messages", "messages_and_unreads"), ("message_search", "message_search")]
WORDS = [f"w{i:04d}" for i in range(2000)] + ["deploy", "pipeline", "lunch", "release"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(8))


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['access_token']}"}


async def ok(r: Any, status: int = 200) -> dict[str, Any]:
    response = await r
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    return dict(response.json())


async def setup(http: httpx.AsyncClient, senders: int) -> tuple[Any, list[Any], str]:
    keys = key_fields()
    owner = await register(http, keys)
    users = [await register(http, keys) for _ in range(senders)]
    cid = (await ok(http.post("/api/communities", headers=auth(owner),
                              json={"name": "Bench", "public": True}), 201))["id"]
    gid = (await ok(http.post("/api/groups", headers=auth(owner), json={
        "community_id": cid, "name": "General", "public": True}), 201))["id"]
    chid = (await ok(http.post(f"/api/groups/{gid}/channels", headers=auth(owner),
                               json={"name": "bench", "kind": "text"}), 201))["id"]
    for user in users:
        await ok(http.post(f"/api/communities/{cid}/join", headers=auth(user)))
    return owner, users, chid


class SentReply(msgspec.Struct):
    position: str


def newer(a: str | None, b: str) -> str:
    return b if a is None or Position.parse(b) > Position.parse(a) else a


class LeanSender:
    """One keep-alive HTTP/1.1 connection that POSTs one prepared request again and again.

    The send phases measure the server, but the client shares the machine's two cores:
    httpx spent 1.1-2 ms of CPU per request (measured beside the server's 2-3 ms), so it
    took a third of the machine from the server it measured. This writes the same bytes a
    client would (request line, Host, Authorization, Content-Type, Content-Length, JSON
    body) and reads the reply by its Content-Length; anything else is an error."""

    def __init__(self, base_url: str, path: str, token: str, body: dict[str, Any]) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        payload = msgspec.json.encode(body)
        self.request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "transfer-encoding":
                raise RuntimeError("LeanSender reads Content-Length replies only")
        if length is None:
            raise RuntimeError("a reply without Content-Length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def send_rate(http: httpx.AsyncClient, users: list[Any], channel: str,
                    duration: float) -> float:
    """Messages/s from the first send until the last one is visible in history."""
    last: str | None = None
    count = 0
    body = {"ciphertext": b64("bench message"), "encryption": "none"}
    senders = [LeanSender(str(http.base_url), f"/api/channels/{channel}/messages",
                          u["access_token"], body) for u in users]
    decode = msgspec.json.Decoder(SentReply).decode
    start = time.perf_counter()
    stop = start + duration

    async def sender(lean: LeanSender) -> None:
        nonlocal last, count
        while time.perf_counter() < stop:
            status, reply = await lean.post()
            if status != 201:
                raise RuntimeError(reply.decode(errors="replace"))
            last = newer(last, decode(reply).position)
            count += 1

    try:
        await asyncio.gather(*(sender(s) for s in senders))
    finally:
        for s in senders:
            await s.close()
    assert last is not None
    await ok(http.get(f"/api/channels/{channel}/messages", params={"limit": 1},
                      headers={**auth(users[0]), "Chatalot-Min-Position": last}))
    return count / (time.perf_counter() - start)


async def raw_append_rate(store: EventStore, channel: uuid.UUID, sender: uuid.UUID,
                          writers: int, duration: float) -> float:
    """The event store alone: the same MessageSent, each to its own new stream."""
    count = 0
    stop = time.perf_counter() + duration
    start = time.perf_counter()

    async def writer() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            mid = uuid7()
            await store.append(message_stream(mid), [NewEvent(MessageSent(
                message_id=mid, channel_id=channel, sender_id=sender,
                ciphertext=b64("bench message"), nonce="", encryption="none",
                message_type="text"))], NO_STREAM)
            count += 1

    await asyncio.gather(*(writer() for _ in range(writers)))
    return count / (time.perf_counter() - start)


async def seed(url: str, store: EventStore, total: int, channel: uuid.UUID,
               reader: uuid.UUID, senders: list[uuid.UUID]) -> tuple[list[str], list[uuid.UUID]]:
    """`total` messages through the event store, each message its own new stream as a
    send makes it, in the rows a loop of appends would write (event_store/bulk.py: SEED_TX
    per statement, SEED_WRITERS at once); the
    reader joins 200 more channels (membership rows: fixture data) whose cursors end 20
    messages before each channel's last. Returns some ids of the bench channel."""
    rng = random.Random(7)
    others = [uuid7() for _ in range(200)]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO channel_members (channel_id, user_id, role) SELECT c, %s, 'member'"
            " FROM unnest(%s::uuid[]) AS c", (reader, others))
    plan = [channel if rng.random() < 0.4 else rng.choice(others) for _ in range(total)]
    ids = [uuid7() for _ in range(total)]
    cursor_at: dict[uuid.UUID, uuid.UUID] = {}
    seen: dict[uuid.UUID, list[uuid.UUID]] = {}
    for mid, ch in zip(ids, plan, strict=True):
        seen.setdefault(ch, []).append(mid)
    for ch in others:
        if ch in seen:
            cursor_at[ch] = seen[ch][max(0, len(seen[ch]) - 21)]

    async def writer(w: int) -> None:
        local = random.Random(w)
        for start in range(w * SEED_TX, total, SEED_WRITERS * SEED_TX):
            await append_new_streams(store, [(message_stream(ids[i]), NewEvent(MessageSent(
                message_id=ids[i], channel_id=plan[i], sender_id=local.choice(senders),
                ciphertext=b64(sentence(local)), nonce="", encryption="none",
                message_type="text"))) for i in range(start, min(start + SEED_TX, total))])
            if w == 0 and start % 100_000 < SEED_WRITERS * SEED_TX:
                progress(f"  seeded ~{start:,} ({start / (time.perf_counter() - began):,.0f}/s)")

    began = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(SEED_WRITERS)))
    progress(f"  seeded {total:,} in {time.perf_counter() - began:.0f} s")
    await store.append(read_cursor_stream(reader), [NewEvent(ReadCursorMoved(
        channel_id=ch, user_id=reader, message_id=mid, receipt=True))
        for ch, mid in cursor_at.items()])
    return [str(m) for m, ch in zip(ids, plan, strict=True) if ch == channel], others


async def caught_up(http: httpx.AsyncClient, owner: Any, limit: float) -> None:
    """Every projection live at the head: a read measured while the others still catch up
    with the seeded log measures their batches on the server's event loop, not the read."""
    started = time.perf_counter()
    shown = started
    while time.perf_counter() < started + limit:
        items = (await http.get("/api/admin/projections", headers=auth(owner))).json()
        if all(i["state"] == "live" and i["lag_events"] == 0 for i in items):
            return
        if time.perf_counter() - shown >= 15:
            shown = time.perf_counter()
            lags = [i["lag_events"] or 0 for i in items if i["lag_events"]]
            progress(f"  {shown - started:.0f} s: {len(lags)} projection(s) behind,"
                     f" by {max(lags, default=0):,} events at most")
        await asyncio.sleep(0.5)
    raise RuntimeError("the projections did not catch up")


async def latencies(n: int, request: Any) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        r = await request(i)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise RuntimeError(r.text)
    return out


async def rebuild_rate(http: httpx.AsyncClient, url: str, owner: Any, name: str) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT coalesce(max(build), 0) FROM projection_builds"
                                 " WHERE name = %s", (name,))
        before = (await cur.fetchone() or (0,))[0]
        await ok(http.post(f"/api/admin/projections/{name}/rebuild", headers=auth(owner)), 202)
        started = time.perf_counter()
        while True:
            cur = await conn.execute(
                "SELECT b.events_done, v.active_build = b.build FROM projection_builds b"
                " JOIN projection_versions v USING (name) WHERE b.name = %s AND b.build > %s"
                " ORDER BY b.build DESC LIMIT 1", (name, before))
            row = await cur.fetchone()
            if row is not None and row[1]:
                cur = await conn.execute("SELECT count(*) FROM events")
                total = (await cur.fetchone() or (0,))[0]
                return float(total) / (time.perf_counter() - started)
            if time.perf_counter() - started > 1800:
                raise RuntimeError(f"rebuild of {name} did not finish")
            await asyncio.sleep(0.05)


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    duration = 4.0 if quick else 15.0
    total = 20_000 if quick else 1_000_000
    samples = 100 if quick else 400
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-msg-") as data_dir:
        port = int(os.environ.get("CHATALOT_BENCH_PORT") or free_port())
        env = server_env(url, data_dir, port, **LIFTED)
        progress("starting the server ...")
        with server(env):
            limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                         timeout=120) as http:
                owner, users, channel = await setup(http, 16)
                pool = make_pool(url, min_size=4, max_size=17)
                await pool.open(wait=True)
                store = EventStore(pool, build_registry())
                await store.start()
                try:
                    results += await sends(http, store, users, channel, duration)
                    progress(f"seeding {total:,} messages ...")
                    reader = uuid.UUID(users[0]["user"]["id"])
                    ids, _ = await seed(url, store, total, uuid.UUID(channel), reader,
                                        [uuid.UUID(u["user"]["id"]) for u in users[1:]])
                finally:
                    await store.close()
                    await pool.close()
                progress("waiting for the projections ...")
                started = time.perf_counter()
                await caught_up(http, owner, 1800)
                progress(f"  caught up in {time.perf_counter() - started:.0f} s")
                results += await reads(http, users[0], channel, ids, samples)
                for name, metric in REBUILDS:
                    progress(f"rebuilding {name} ...")
                    started = time.perf_counter()
                    rate = await rebuild_rate(http, url, owner, name)
                    progress(f"  {rate:,.0f} events/s ({time.perf_counter() - started:.0f} s)")
                    result = target_result(f"rebuild_{metric}", rate, "events/s",
                                           TARGET_REBUILD_EVENTS_PER_SEC, lower_is_better=False)
                    results.append({**result, "projector": name})
    return results


async def sends(http: httpx.AsyncClient, store: EventStore, users: list[Any], channel: str,
                duration: float) -> list[dict[str, Any]]:
    """The HTTP phases first, then the raw ones: raw appends go to the served database
    too, and the server's projections would still be catching up with them during an
    HTTP phase that came after."""
    sender = uuid.UUID(users[0]["user"]["id"])
    ours: dict[int, float] = {}
    for n in (1, 16):
        progress(f"HTTP sends, {n} sender(s) ...")
        ours[n] = await send_rate(http, users[:n], channel, duration)
        progress(f"  {ours[n]:,.0f} msg/s")
    out = []
    for n in (1, 16):
        progress(f"raw event-store appends, {n} writer(s) ...")
        raw = await raw_append_rate(store, uuid.UUID(channel), sender, n, duration / 2)
        progress(f"  {raw:,.0f}/s")
        out.append(ratio_result(
            f"send_{n}_sender{'s' if n > 1 else ''}", ours[n], "msg/s",
            f"raw event-store append of the same event, {n} writer(s), this run", raw,
            TARGET_SEND_RATIO_16 if n == 16 else None))
    out.append(target_result("send_16_senders_absolute", ours[16], "msg/s", TARGET_SEND_16,
                             lower_is_better=False))
    return out


async def reads(http: httpx.AsyncClient, reader: Any, channel: str, ids: list[str],
                samples: int) -> list[dict[str, Any]]:
    rng = random.Random(3)
    headers = auth(reader)
    progress("history pages of 50 ...")
    history = await latencies(samples, lambda i: http.get(
        f"/api/channels/{channel}/messages", headers=headers,
        params={"limit": 50, "before": rng.choice(ids)}))
    progress(f"  p50 {percentile(history, 50):.1f} ms, p99 {percentile(history, 99):.1f} ms;"
             " search ...")
    search = await latencies(samples, lambda i: http.get(
        "/api/messages/search", headers=headers,
        params={"q": f"{rng.choice(WORDS)} {rng.choice(WORDS)}" if i % 2 else
                rng.choice(WORDS)}))
    progress(f"  p50 {percentile(search, 50):.1f} ms, p99 {percentile(search, 99):.1f} ms;"
             " unread counts in 201 channels ...")
    unread = await latencies(samples, lambda i: http.get("/api/channels/unread",
                                                         headers=headers))
    progress(f"  p50 {percentile(unread, 50):.1f} ms, p99 {percentile(unread, 99):.1f} ms")
    return [
        target_result("history_page_50_p99", percentile(history, 99), "ms",
                      TARGET_HISTORY_P99_MS),
        target_result("search_p99", percentile(search, 99), "ms", TARGET_SEARCH_P99_MS),
        target_result("unread_200_channels_p99", percentile(unread, 99), "ms",
                      TARGET_UNREAD_P99_MS),
    ]


def main() -> None:
    run_database_bench("messaging", __doc__.splitlines()[0], run)


if __name__ == "__main__":
    main()
