"""Fixtures for the crypto tests; shared helpers live in crypto_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

# Test modules import crypto_helpers by name (tests/ has no packages); make that work
# whatever pytest's import mode.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
