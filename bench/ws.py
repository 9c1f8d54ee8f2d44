"""The WebSocket gateway under load (issue 14 item 8): `chatalot serve` in a subprocess on a
scratch database, load clients in another process, all on loopback.

- latency: 20 msg/s into one channel (4 senders taking turns, evenly spaced), 4
  receiving sockets: send (client clock) to receive (same clock) p50/p99. For scale:
  Synapse's /sync long-poll delivers at p50 44 ms, p99 63 ms on this machine (issue 14);
  our target p99 <= 12 ms.
- fan-out: 500 sockets in one channel (200 with --quick), 50 msg/s: p99 <= 100 ms.
- spread: 1,000 sockets over 100 channels (each socket narrowed to one channel with
  `unsubscribe`), 200 msg/s in total: p99 <= 50 ms (300 over 30 with --quick).
- idle: 5,000 idle authenticated sockets held by the server (1,000 with --quick): the
  server's resident memory per socket, target <= 64 KiB.
- throughput: send_message over one socket per sender beside POST .../messages over
  HTTP keep-alive, same senders, same run (baseline: REST).

Every message's body carries its send time; the receiving process computes latency.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
from _common import emit, parse_args, percentile, progress, scratch_database, target_result
from _common import ratio_result as ratio
from auth import free_port, key_fields, server, server_env
from websockets.asyncio.client import connect

PASSWORD = "bench password, long enough"
LIFTED = {
    "CHATALOT_RATE_LIMIT_GENERAL_PER_SEC": "1000000",
    "CHATALOT_RATE_LIMIT_GENERAL_BURST": "1000000",
    "CHATALOT_RATE_LIMIT_AUTH_PER_SEC": "1000000", "CHATALOT_RATE_LIMIT_AUTH_BURST": "1000000",
    "CHATALOT_ARGON2_MEMORY_KIB": "8192", "CHATALOT_ARGON2_TIME_COST": "1",
    "CHATALOT_MAX_WS_CONNECTIONS_PER_USER": "100000",
    "CHATALOT_WS_FRAMES_BURST": "100000", "CHATALOT_WS_FRAMES_PER_SEC": "100000",
    "CHATALOT_METRICS_TOKEN": "bench-metrics",  # frames sent, per phase
}
# targets set by issue 14
TARGET_LATENCY_P99_MS = 12.0
TARGET_FANOUT_P99_MS = 100.0
TARGET_SPREAD_P99_MS = 50.0
TARGET_IDLE_KIB_PER_SOCKET = 64.0
TARGET_WS_OVER_REST = 1.0
SENDERS = 4


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def stamped(text: str = "") -> dict[str, Any]:
    body = json.dumps({"t": time.time(), "x": text}).encode()
    return {"ciphertext": base64.b64encode(body).decode(), "encryption": "none"}


# -- the load-client process ----------------------------------------------------------


async def receive(spec: dict[str, Any]) -> dict[str, Any]:
    """Open the sockets, narrow each to its channel, report ready, then record the latency
    of every new_message until told to stop (a line on stdin)."""
    latencies: list[float] = []
    arrivals: list[tuple[str, float]] = []  # (message id, receive time)
    sockets: list[Any] = []

    async def one(token: str, keep: str | None) -> None:
        ws = await connect(spec["url"], max_size=None, open_timeout=120, ping_interval=None)
        sockets.append(ws)
        await ws.send(json.dumps({"type": "authenticate", "token": token}))
        while json.loads(await ws.recv())["type"] != "authenticated":
            pass
        if keep is not None:
            others = [c for c in spec["channels"] if c != keep]
            if others:
                await ws.send(json.dumps({"type": "unsubscribe", "channel_ids": others,
                                          "ref": "u"}))

    async def listen(ws: Any) -> None:
        async for raw in ws:
            if '"new_message"' in raw[:40]:
                now = time.time()
                frame = json.loads(raw)
                sent = json.loads(base64.b64decode(frame["ciphertext"]))["t"]
                latencies.append((now - sent) * 1000)
                arrivals.append((frame["message_id"], now))

    plan = spec["plan"]  # [[token, channel or null], ...]
    for start in range(0, len(plan), 100):
        await asyncio.gather(*(one(t, c) for t, c in plan[start:start + 100]))
    tasks = [] if spec.get("idle") else [asyncio.create_task(listen(ws)) for ws in sockets]
    print(json.dumps({"ready": len(sockets)}), flush=True)
    stop = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    # what is still on its way counts too (else a backlog's latest, slowest frames would
    # be left out): stop after a quiet second, at most a minute
    quiet_until = time.monotonic() + 60
    while tasks and time.monotonic() < quiet_until:
        before = len(latencies)
        await asyncio.sleep(1.0)
        if len(latencies) == before:
            break
    for task in tasks:
        task.cancel()
    # the senders' message_sent times: delivery alone = receive - the reply's arrival
    acked: dict[str, float] = json.loads(stop).get("acked", {}) if stop.strip() else {}
    after_reply = [(t - acked[m]) * 1000 for m, t in arrivals if m in acked]
    return {"latencies": latencies, "after_reply": after_reply}


def client_main() -> None:
    raise_fd_limit()
    spec = json.loads(sys.stdin.readline())
    result = asyncio.run(receive(spec))
    print(json.dumps(result), flush=True)
    os._exit(0)  # thousands of sockets: do not wait for each close handshake


class LoadClients:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--client"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load clients failed")
        self.ready = json.loads(line)["ready"]

    def stop(self, acked: dict[str, float] | None = None) -> tuple[list[float], list[float]]:
        """(send -> receive latencies, message_sent -> receive latencies) in ms."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"acked": acked or {}}) + "\n")
        self.proc.stdin.flush()
        result = json.loads(self.proc.stdout.readline())
        self.proc.wait(30)
        return list(result["latencies"]), list(result["after_reply"])


# -- setup over HTTP ------------------------------------------------------------------


async def setup(base: str, users: int, channels: int) -> tuple[list[dict[str, Any]], list[str]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        made = []
        for i in range(users):
            r = await http.post("/api/auth/register", json={
                "username": f"bench{i}", "password": PASSWORD, **key_fields()})
            assert r.status_code == 201, r.text
            made.append(r.json())
        owner = {"Authorization": f"Bearer {made[0]['access_token']}"}
        r = await http.post("/api/communities", headers=owner,
                            json={"name": "Bench", "public": True, "discoverable": True})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        r = await http.post("/api/groups", headers=owner, json={"community_id": cid,
                                                                "name": "General"})
        assert r.status_code == 201, r.text
        gid = r.json()["id"]
        ids = []
        for n in range(channels):
            r = await http.post(f"/api/groups/{gid}/channels", headers=owner,
                                json={"name": f"c{n}", "kind": "text"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for user in made[1:]:
            r = await http.post(f"/api/communities/{cid}/join",
                                headers={"Authorization": f"Bearer {user['access_token']}"})
            assert r.status_code == 200, r.text
    return made, ids


# -- measurements ---------------------------------------------------------------------


async def paced_sends(ws_url: str, token: str, channels: list[str], rate: float,
                      seconds: float, acks: list[float], acked: dict[str, float],
                      offset: float = 0.0) -> int:
    """Send at `rate`, the first `offset` seconds in; the send-to-`message_sent` time of
    each goes to `acks` (the command alone: the same-run baseline of the delivery
    latency), the wall time the reply arrived to `acked[message id]` (where delivery alone
    starts)."""
    sent_at: dict[str, float] = {}
    async with connect(ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "authenticate", "token": token}))
        await ws.recv()
        drain = asyncio.create_task(_acks(ws, sent_at, acks, acked))
        start, n = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = offset + n / rate
            if due > elapsed:
                await asyncio.sleep(due - elapsed)
            sent_at[str(n)] = time.perf_counter()
            await ws.send(json.dumps({"type": "send_message", "ref": str(n),
                                      "channel_id": channels[n % len(channels)],
                                      **stamped()}))
            n += 1
        # every reply, however late (a backlog's slowest are what p99 is about)
        for _ in range(600):  # at most a minute
            if not sent_at:
                break
            await asyncio.sleep(0.1)
        drain.cancel()
    return n


async def _acks(ws: Any, sent_at: dict[str, float], acks: list[float],
                acked: dict[str, float]) -> None:
    async for raw in ws:
        if '"message_sent"' in raw[:40]:
            now = time.time()
            frame = json.loads(raw)
            ref = frame.get("ref")
            if ref in sent_at:
                acks.append((time.perf_counter() - sent_at.pop(ref)) * 1000)
                acked[frame["id"]] = now


def cpu_secs(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def frames_sent(base: str) -> float:
    r = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer bench-metrics"})
    for line in r.text.splitlines():
        if line.startswith("chatalot_ws_frames_sent_total "):
            return float(line.split()[1])
    return 0.0


class Cost:
    """The server's CPU time per WebSocket frame it sent over a phase (commands, log
    reading and projections included): a relative figure that a loaded machine distorts
    far less than latencies."""

    def __init__(self, base: str, pid: int) -> None:
        self.base, self.pid = base, pid
        self.cpu, self.frames = cpu_secs(pid), frames_sent(base)

    def us_per_frame(self) -> float:
        frames = frames_sent(self.base) - self.frames
        return (cpu_secs(self.pid) - self.cpu) * 1e6 / max(1.0, frames)


async def delivery(ws_url: str, users: list[dict[str, Any]], channels: list[str],
                   sockets: int, rate: float, seconds: float, spread: bool,
                   costs: list[float] | None = None, pid: int = 0
                   ) -> tuple[list[float], list[float], list[float]]:
    """(receive latencies, send-to-message_sent latencies, message_sent-to-receive
    latencies: the delivery alone), in ms; the server's CPU per frame goes to `costs`."""
    tokens = [u["access_token"] for u in users[1:]]
    plan = [[tokens[i % len(tokens)], channels[i % len(channels)] if spread else None]
            for i in range(sockets)]
    clients = LoadClients({"url": ws_url, "plan": plan, "channels": channels})
    progress(f"  {clients.ready} receiving sockets; sending {rate:g} msg/s for {seconds:g} s")
    await asyncio.sleep(1.0)
    # several senders share the rate: one socket's frames run one after another (a
    # client's own sends stay in order), as they would from several people; their turns
    # interleave (sender k starts k/rate s in), so the channel gets `rate` evenly spaced
    # messages a second, not a burst of SENDERS at once every SENDERS/rate s
    senders = [u["access_token"] for u in users[:SENDERS]]
    acks: list[float] = []
    acked: dict[str, float] = {}
    cost = Cost(ws_url.replace("ws://", "http://").removesuffix("/ws"), pid) if pid else None
    await asyncio.gather(*(paced_sends(ws_url, token, channels, rate / len(senders), seconds,
                                       acks, acked, k / rate)
                           for k, token in enumerate(senders)))
    received, after_reply = await asyncio.to_thread(clients.stop, acked)
    if cost is not None and costs is not None:
        costs.append(cost.us_per_frame())
    return received, acks, after_reply


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def idle_memory(ws_url: str, users: list[dict[str, Any]], pid: int, count: int
                      ) -> float:
    before = rss_kib(pid)
    tokens = [u["access_token"] for u in users[1:]]
    clients = LoadClients({"url": ws_url, "plan": [[tokens[i % len(tokens)], None]
                                                   for i in range(count)],
                           "channels": [], "idle": True})
    await asyncio.sleep(2.0)
    after = rss_kib(pid)
    await asyncio.to_thread(clients.stop)
    progress(f"  {clients.ready} idle sockets: server RSS {before} -> {after} KiB")
    return (after - before) / max(1, clients.ready)


async def throughput(base: str, ws_url: str, users: list[dict[str, Any]], channel: str,
                     seconds: float, senders: int = 4) -> tuple[float, float]:
    async def over_ws(token: str) -> int:
        n = 0
        async with connect(ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "authenticate", "token": token}))
            await ws.recv()
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                await ws.send(json.dumps({"type": "send_message", "channel_id": channel,
                                          "ref": "s", **stamped()}))
                while '"message_sent"' not in (await ws.recv())[:40]:
                    pass
                n += 1
        return n

    async def over_rest(http: httpx.AsyncClient, token: str) -> int:
        n = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            r = await http.post(f"/api/channels/{channel}/messages", json=stamped(),
                                headers={"Authorization": f"Bearer {token}"})
            assert r.status_code in (200, 201), r.text
            n += 1
        return n

    tokens = [u["access_token"] for u in users[:senders]]
    ws_total = sum(await asyncio.gather(*(over_ws(t) for t in tokens)))
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        rest_total = sum(await asyncio.gather(*(over_rest(http, t) for t in tokens)))
    return ws_total / seconds, rest_total / seconds


def _delivery_alone(name: str, alone: list[float], acks: list[float]) -> list[dict[str, Any]]:
    """The delivery part alone (message_sent reply -> receive: negative when the event
    reached a receiver before the sender got its reply) beside the command's own time."""
    return [{"metric": f"{name}_after_reply_p50", "value": round(percentile(alone, 50), 2),
             "unit": "ms"},
            {"metric": f"{name}_after_reply_p99", "value": round(percentile(alone, 99), 2),
             "unit": "ms"},
            {"metric": f"{name}_command_p99", "value": round(percentile(acks, 99), 2),
             "unit": "ms"}]


async def run(quick: bool, url: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    port = int(os.environ.get("CHATALOT_BENCH_PORT") or free_port())
    fanout_sockets, spread_sockets, spread_channels = (200, 300, 30) if quick else (
        500, 1000, 100)
    idle_sockets = 1000 if quick else 5000
    seconds = 4.0 if quick else 20.0
    with tempfile.TemporaryDirectory(prefix="chatalot-bench-ws-") as data, \
            server(server_env(url, data, port, **LIFTED)) as proc:
        base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
        progress("registering users, a community and its channels")
        users, channels = await setup(base, 11, spread_channels)
        progress("latency: 20 msg/s, 4 receivers")
        lat, acks, alone = await delivery(ws_url, users, channels[:1], 4, 20.0, seconds, False)
        results += [target_result("latency_p50", percentile(lat, 50), "ms",
                                  TARGET_LATENCY_P99_MS),
                    target_result("latency_p99", percentile(lat, 99), "ms",
                                  TARGET_LATENCY_P99_MS),
                    ratio("latency_p99_vs_command", percentile(lat, 99), "ms",
                          "send -> message_sent p99 (the command alone), same run",
                          percentile(acks, 99), None, lower_is_better=True),
                    *_delivery_alone("latency", alone, acks)]
        progress(f"fan-out: {fanout_sockets} sockets, 50 msg/s")
        costs: list[float] = []
        fan, acks, alone = await delivery(ws_url, users, channels[:1], fanout_sockets, 50.0,
                                          seconds, False, costs, proc.pid)
        results += [target_result(f"fanout_{fanout_sockets}_sockets_p99",
                                  percentile(fan, 99), "ms", TARGET_FANOUT_P99_MS),
                    ratio(f"fanout_{fanout_sockets}_sockets_p99_vs_command",
                          percentile(fan, 99), "ms", "send -> message_sent p99, same run",
                          percentile(acks, 99), None, lower_is_better=True),
                    *_delivery_alone(f"fanout_{fanout_sockets}_sockets", alone, acks),
                    {"metric": f"fanout_{fanout_sockets}_sockets_server_cpu_per_frame",
                     "value": round(costs[-1], 1), "unit": "us"}]
        progress(f"spread: {spread_sockets} sockets over {spread_channels} channels, 200 msg/s")
        spread, acks, alone = await delivery(ws_url, users, channels, spread_sockets, 200.0,
                                             seconds, True, costs, proc.pid)
        results += [target_result(f"spread_{spread_sockets}_sockets_p99",
                                  percentile(spread, 99), "ms", TARGET_SPREAD_P99_MS),
                    *_delivery_alone(f"spread_{spread_sockets}_sockets", alone, acks),
                    {"metric": f"spread_{spread_sockets}_sockets_server_cpu_per_frame",
                     "value": round(costs[-1], 1), "unit": "us"}]
        progress("send throughput: WebSocket beside REST")
        ws_rate, rest_rate = await throughput(base, ws_url, users, channels[0], seconds / 2)
        results.append(ratio("send_throughput_ws", ws_rate, "msg/s",
                             "POST /api/channels/{id}/messages, same senders", rest_rate,
                             TARGET_WS_OVER_REST))
        progress(f"idle: {idle_sockets} sockets")
        per_socket = await idle_memory(ws_url, users, proc.pid, idle_sockets)
        results.append(target_result(f"idle_{idle_sockets}_sockets_memory_per_socket",
                                     per_socket, "KiB", TARGET_IDLE_KIB_PER_SOCKET))
        for r in results:
            progress(f"  {r}")
    return results


def main() -> None:
    if "--client" in sys.argv:
        client_main()
        return
    raise_fd_limit()
    args = parse_args(__doc__ or "")
    with scratch_database() as url:
        results = asyncio.run(run(args.quick, url))
    emit("ws", args.quick, results)


if __name__ == "__main__":
    main()
