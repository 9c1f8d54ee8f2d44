"""The image's promises, read from the Dockerfile (there is no Docker daemon here to build
it): multi-stage, a slim base, no build tools in the final stage, a non-root user, a
health check on /api/health, the code run from /app beside its migrations."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), per stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    found: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(line)
    return found


def test_multi_stage_on_a_slim_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    for stage in all_stages:
        assert re.match(r"FROM python:3\.\d+-slim", stage[0]), stage[0]


def test_the_final_stage_has_no_build_tools_and_runs_as_a_user() -> None:
    final = stages()[-1]
    text = "\n".join(final)
    for tool in ("gcc", "build-essential", "pip install", "apt-get install", "make "):
        assert tool not in text, tool
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [line for line in final if line.startswith("HEALTHCHECK")]
    assert health and "/api/health" in health[0]
    assert any("COPY migrations" in line for line in final)  # beside the code
    assert not any(re.search(r"secrets|\.pem|totp", line, re.I) for line in final
                   if line.startswith(("COPY", "ADD")))


def test_the_build_context_leaves_secrets_and_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in ("secrets", ".env", "chatalot-data", ".git", ".venv"):
        assert name in ignored
