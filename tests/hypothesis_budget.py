"""How many examples a Hypothesis property gets: two budgets per profile.

Properties that touch PostgreSQL or the app cost milliseconds per example: they get the
profile's bounded `max_examples`. Pure properties (domain rules, codecs, primitives) cost
microseconds: marked `@pure`, they get hundreds of examples, more in CI and at night.
`HYPOTHESIS_PROFILE` picks the profile (docs/testing.md); tests/conftest.py loads it.

    profile   database-heavy   pure
    default        12           200     (a developer's run)
    ci             12          1000     (.ci/run)
    nightly       300          3000     (HYPOTHESIS_PROFILE=nightly scripts/test)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

BUDGETS: dict[str, tuple[int, int]] = {
    "default": (12, 200),
    "ci": (12, 1000),
    "nightly": (300, 3000),
}

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
if PROFILE not in BUDGETS:
    raise RuntimeError(f"HYPOTHESIS_PROFILE={PROFILE!r}: one of {', '.join(BUDGETS)}")

for _name, (_bounded, _) in BUDGETS.items():
    settings.register_profile(
        _name,
        max_examples=_bounded,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
settings.load_profile(PROFILE)

PURE_EXAMPLES = BUDGETS[PROFILE][1]

F = TypeVar("F", bound=Callable[..., Any])


def pure(test: F) -> F:
    """A cheap property of plain functions: the profile's pure budget, and the `pure`
    marker (`pytest -m pure` runs only these). Put it above `@given`."""
    marked: F = pytest.mark.pure(settings(max_examples=PURE_EXAMPLES)(test))
    return marked
