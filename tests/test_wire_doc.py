"""docs/wire.md is generated from the registry, the configuration dataclasses and the rules.

Also checks the ranges it reads from the dataclasses' checks against the reference:
each field's range ends are accepted and one past each end is rejected, at a preset.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from conformance.operators import config_to_dict
from conformance.vectors.wire_doc import field_ranges, render
from reference.errors import ConfigError
from reference.presets import get_preset

ROOT = Path(__file__).resolve().parent.parent


def test_doc_is_generated() -> None:
    assert (ROOT / "docs" / "wire.md").read_text(encoding="utf-8") == render(), (
        "regenerate with: sorbet-ref vectors wire > docs/wire.md")


def test_every_field_has_a_range_and_a_meaning() -> None:
    text = render()
    for line in text.splitlines():
        if line.startswith("| `") and line.count("|") == 5:
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert cells[1] and cells[2], f"docs/wire.md: {line}"


def test_numeric_ranges_agree_with_the_checks() -> None:
    pre = get_preset("sorbet")
    for cfg in (pre.bspn, pre.ptsoftmax, pre.quant_signed, pre.spikes, pre.linear_signed):
        cls = type(cfg)
        base = config_to_dict(cfg)
        for name, text in field_ranges(cls).items():
            m = re.fullmatch(r"`(-?\d+) \.\. (-?\d+)`(.*)", text)
            if m is None:
                continue
            lo, hi = int(m.group(1)), int(m.group(2))
            for bad in (lo - 1, hi + 1):
                try:
                    cls(**{**base, name: bad})
                except ConfigError:
                    pass
                else:
                    raise AssertionError(f"{cls.__name__}.{name} = {bad} is accepted")
            assert name in {f.name for f in dataclasses.fields(cls)}
