"""Shared test setup: make the repository importable without an install.

Hypothesis settings are given per test (moderate ``max_examples``,
``deadline=None``); no global profile is loaded, so the vector generator's own
derandomized settings are never affected by the test run.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
