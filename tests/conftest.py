"""Shared test setup: make the repository importable without an install.

Hypothesis runs derandomized for the whole suite (a fixed seed per test, no
example database), so a test run is reproducible and CI cannot turn red by
chance; ``max_examples`` is given per test.  The vector generator passes every
setting that affects generation explicitly (``conformance.vectors.strategies.collect``),
so this profile does not change the vectors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import settings

settings.register_profile("sorbet-ref", derandomize=True, database=None, deadline=None)
settings.load_profile("sorbet-ref")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
