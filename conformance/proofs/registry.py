"""Every proof obligation, in the order ``sorbet-ref prove`` runs them (spec/09-theorems.md)."""

from __future__ import annotations

from conformance.proofs import ob_arith, ob_bspn, ob_ptsm, ob_spikes
from conformance.proofs.core import Obligation

OBLIGATIONS: tuple[Obligation, ...] = (
    *ob_arith.OBLIGATIONS,
    *ob_ptsm.OBLIGATIONS,
    *ob_bspn.OBLIGATIONS,
    *ob_spikes.OBLIGATIONS,
)

NAMES: tuple[str, ...] = tuple(o.name for o in OBLIGATIONS)
"""The stable theorem names, as spec/09-theorems.md lists them."""


def get(name: str) -> Obligation:
    """The obligation called ``name``; KeyError lists the known names otherwise."""
    for o in OBLIGATIONS:
        if o.name == name:
            return o
    raise KeyError(f"unknown theorem {name!r}; expected one of {list(NAMES)}")


def select(names: list[str] | None) -> list[Obligation]:
    """The named obligations (all when ``names`` is empty or None), in registry order.

    A name may also be a prefix ending in a dot, such as ``ptsm.``.
    """
    if not names:
        return list(OBLIGATIONS)
    out = []
    for o in OBLIGATIONS:
        if any(o.name == n or (n.endswith(".") and o.name.startswith(n)) or
               o.name.startswith(n + ".") for n in names):
            out.append(o)
    for n in names:
        if not any(o.name == n or o.name.startswith(n.rstrip(".") + ".") for o in OBLIGATIONS):
            get(n)
    return out
