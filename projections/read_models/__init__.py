"""The read models this application runs."""

from __future__ import annotations

from projections.projector import Projector
from projections.read_models.accounts import PROJECTORS as ACCOUNT_PROJECTORS
from projections.read_models.event_stats import EventStats
from projections.read_models.keys import PROJECTORS as KEY_PROJECTORS


def default_projectors() -> list[Projector]:
    """Every projector the app runs, in one place (each read model adds itself here)."""
    return [EventStats(), *(p() for p in (*ACCOUNT_PROJECTORS, *KEY_PROJECTORS))]


__all__ = ["EventStats", "default_projectors"]
