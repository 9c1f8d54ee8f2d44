"""The compose topology as processes: docker-compose.yml's nodes as `chatalot serve`, its
migration step as `chatalot migrate`, and Debian's nginx with the nginx.conf the compose
file mounts. Only what names the machine changes: addresses, ports, file paths, the
database and Redis the test suite was given, and secrets generated for the run."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from chatalot.auth.jwt_keys import ensure_jwt_keys

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE = ROOT / "docker-compose.yml"
PORTS = range(18600, 18700)  # this range (PORTS.md)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None)


def free_ports(count: int) -> list[int]:
    found: list[int] = []
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"fewer than {count} free ports in {PORTS}")


_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's `${NAME:-default}`, from `variables` (an operator's .env)."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    return value


@dataclass
class Compose:
    services: dict[str, Any]

    @classmethod
    def load(cls, variables: dict[str, str]) -> Compose:
        data = yaml.safe_load(COMPOSE.read_text())
        return cls(interpolate(data["services"], variables))

    def with_command(self, command: str) -> list[str]:
        return [name for name, s in self.services.items() if s.get("command") == [command]]

    def nginx_conf(self) -> Path:
        for volume in self.services["nginx"]["volumes"]:
            source, target = volume.split(":")[:2]
            if target == "/etc/nginx/nginx.conf":
                return (COMPOSE.parent / source).resolve()
        raise AssertionError("the nginx service mounts no nginx.conf")

    def upstream_ports(self) -> dict[str, int]:
        """Node name -> the port nginx's upstream names for it."""
        text = self.nginx_conf().read_text()
        return {name: int(port) for name, port in
                re.findall(r"^\s*server\s+([\w-]+):(\d+)", text, re.M)}


def local_nginx_conf(source: Path, directory: Path, listen: int,
                     upstreams: dict[str, int]) -> Path:
    """The compose file's nginx.conf with only its `# topology:` lines pointed here."""
    replaced: dict[str, int] = {}

    def line(text: str) -> str:
        match = re.search(r"#\s*topology:\s*(\w+)", text)
        if match is None:
            return text
        kind = match.group(1)
        replaced[kind] = replaced.get(kind, 0) + 1
        if kind == "upstream":
            return re.sub(r"server\s+([\w-]+):\d+",
                          lambda m: f"server 127.0.0.1:{upstreams[m.group(1)]}", text)
        if kind == "listen":
            return re.sub(r"listen\s+\d+", f"listen 127.0.0.1:{listen}", text)
        if kind == "temp":
            return re.sub(r"/tmp/(nginx-\w+)", lambda m: str(directory / m.group(1)), text)
        if kind == "pid":
            return re.sub(r"pid\s+\S+;", f"pid {directory / 'nginx.pid'};", text)
        if kind == "error_log":
            return re.sub(r"error_log\s+\S+", f"error_log {directory / 'nginx-error.log'}",
                          text)
        if kind == "access_log":
            return re.sub(r"access_log\s+\S+", f"access_log {directory / 'access.log'}", text)
        raise AssertionError(f"unknown topology mark {kind!r}")

    out = "\n".join(line(t) for t in source.read_text().splitlines()) + "\n"
    assert replaced == {"pid": 1, "error_log": 1, "temp": 5, "access_log": 1, "upstream": 2,
                        "listen": 1}, replaced
    target = directory / "nginx.conf"
    target.write_text(out)
    return target


@dataclass
class Topology:
    directory: Path
    nginx_port: int
    node_ports: dict[str, int]
    database_url: str
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    metrics_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> list[dict[str, Any]]:
        import json

        path = self.directory / "access.log"
        return [json.loads(line) for line in path.read_text().splitlines() if line]


def node_environment(compose: Compose, service: str, topo: Topology, redis_url: str,
                     keys: Path) -> dict[str, str]:
    env = {k: str(v) for k, v in compose.services[service]["environment"].items()}
    env.pop("DATABASE_PASSWORD_FILE", None)  # the given URL carries its own credentials
    if service in topo.node_ports:  # a node (the migration step listens on nothing)
        env.update({"HOST": "127.0.0.1", "PORT": str(topo.node_ports[service])})
    env.update({
        "DATABASE_URL": topo.database_url, "REDIS_URL": redis_url,
        "JWT_PRIVATE_KEY_PATH": str(keys / "jwt_ed25519.pem"),
        "JWT_PUBLIC_KEY_PATH": str(keys / "jwt_ed25519.pub.pem"),
        "TOTP_ENCRYPTION_KEY_FILE": str(keys / "totp_key"),
        "CHATALOT_METRICS_TOKEN_FILE": str(keys / "metrics_token"),
        "CHATALOT_TRUSTED_PROXIES": "127.0.0.1",  # nginx's address here
        "CHATALOT_DATA_DIR": str(topo.directory / f"data-{service}"),
        # cheaper password hashing: this test is about the topology, not Argon2's cost
        "CHATALOT_ARGON2_MEMORY_KIB": "8192", "CHATALOT_ARGON2_TIME_COST": "1",
        "CHATALOT_ARGON2_PARALLELISM": "1",
    })
    return {**{k: v for k, v in os.environ.items()
               if k in ("PATH", "HOME", "LANG", "XDG_RUNTIME_DIR")}, **env}


def write_secrets(directory: Path, metrics_token: str) -> Path:
    """What `README.md` tells the operator to put in ./secrets, made for this run."""
    keys = directory / "secrets"
    keys.mkdir(mode=0o700)
    ensure_jwt_keys(keys / "jwt_ed25519.pem", keys / "jwt_ed25519.pub.pem")
    (keys / "totp_key").write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    (keys / "metrics_token").write_text(metrics_token + "\n")
    return keys


def wait_until_up(url: str, process: subprocess.Popen[bytes], name: str, topo: Topology,
                  timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}:\n{topo.log(name)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{name} did not answer {url} within {timeout} s:\n{topo.log(name)}")


def spawn(topo: Topology, name: str, argv: list[str], env: dict[str, str] | None = None
          ) -> subprocess.Popen[bytes]:
    out = open(topo.directory / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                               cwd=ROOT, start_new_session=True)
    out.close()
    topo.processes.append((name, process))
    return process


def stop_all(topo: Topology) -> None:
    """Stop every process this topology started, by its own pid, gracefully first."""
    for _, process in reversed(topo.processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for _, process in reversed(topo.processes):
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def running_topology(directory: Path, database_url: str, redis_url: str,
                     variables: dict[str, str]) -> Iterator[tuple[Topology, Compose]]:
    nginx = nginx_binary()
    assert nginx is not None
    nginx_port, *ports = free_ports(3)
    compose = Compose.load({**variables, "PUBLIC_URL": f"http://127.0.0.1:{nginx_port}"})
    nodes = compose.with_command("serve")
    assert len(nodes) >= 2, nodes
    assert set(compose.upstream_ports()) == set(nodes)
    topo = Topology(directory, nginx_port, dict(zip(nodes, ports, strict=False)), database_url)
    keys = write_secrets(directory, topo.metrics_token)
    try:
        for step in compose.with_command("migrate"):  # once, before any node
            migrate = spawn(topo, step, [sys.executable, "-m", "chatalot.cli.main", "migrate"],
                            node_environment(compose, step, topo, redis_url, keys))
            assert migrate.wait(timeout=120) == 0, topo.log(step)
        for node in nodes:
            spawn(topo, node, [sys.executable, "-m", "chatalot.cli.main", "serve"],
                  node_environment(compose, node, topo, redis_url, keys))
        for (name, process) in topo.processes[-len(nodes):]:
            wait_until_up(f"http://127.0.0.1:{topo.node_ports[name]}/api/health", process,
                          name, topo)
        conf = local_nginx_conf(compose.nginx_conf(), directory, nginx_port, topo.node_ports)
        user = "user root; " if os.geteuid() == 0 else ""  # workers must reach tmp dirs
        proxy = spawn(topo, "nginx", [nginx, "-e", str(directory / "nginx-start.log"),
                                      "-p", str(directory), "-c", str(conf),
                                      "-g", f"daemon off; {user}"])
        wait_until_up(f"{topo.base_url}/api/health", proxy, "nginx", topo)
        yield topo, compose
    finally:
        stop_all(topo)
