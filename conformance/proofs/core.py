"""Proof obligations and how one is discharged (spec/09-theorems.md, "Method").

An :class:`Obligation` is a named theorem.  Building it for a preset yields
:class:`Part` checks (each a set of premises and a claim, over bit-vectors,
unbounded integers or reals) and :class:`Witness` queries.  Discharging it:

1. each part's premises must be satisfiable, else the part is *vacuous* (a
   failure: a proof about nothing proves nothing);
2. ``premises and not (claim and no-overflow)`` must be unsatisfiable; a model
   is a *counterexample*;
3. each witness (premises and a condition showing the bound is reached, or
   cannot be improved at the stated resolution) must be satisfiable; its model
   is printed.  A missing witness is a failure too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import z3

from conformance.proofs.z3algebra import Term

Model = Mapping[str, int | Fraction | bool]
"""Values of a part's named terms in a Z3 model."""

CHECK_TIMEOUT_MS = 30_000
"""Per-check limit; a check that runs out is a failure, never a pass."""
QFBV_TRY_MS = 1_000
"""Time the bit-blasting tactic gets on a bit-vector validity check before the default solver."""


@dataclass
class Witness:
    """A model showing a bound is reached or cannot be improved."""

    what: str
    """Words: what the model shows."""
    premises: list[Term]
    condition: Term
    show: dict[str, Term]
    render: Callable[[Model], str] | None = None
    """Extra text from the model (for example the ratio it reaches)."""
    inputs: Callable[[Model], list[dict[str, Any]]] | None = None
    """Operator inputs realizing the witness (boundary vectors)."""


@dataclass
class Part:
    """One solver check of an obligation."""

    label: str
    """Where and how: ``bv`` at some width, ``int`` or ``real`` (unbounded)."""
    premises: list[Term]
    claim: Term
    show: dict[str, Term]
    no_overflow: list[Term] = field(default_factory=list)
    regression: Callable[[Model], list[dict[str, Any]]] | None = None
    """Operator inputs reproducing a counterexample (regression vectors)."""


@dataclass
class Built:
    """An obligation instantiated for one preset."""

    widths: str
    parts: list[Part]
    witnesses: list[Witness]


@dataclass(frozen=True)
class Obligation:
    """A theorem: stable name, statement in words and as a formula, builder."""

    name: str
    statement: str
    formula: str
    rule: str
    """The spec rule it bounds: file and section."""
    build: Callable[[Any, Any], Built]
    """``build(preset, impl)`` where ``impl`` is a :class:`conformance.proofs.impl.Impl`."""


@dataclass
class PartResult:
    """Outcome of one part."""

    label: str
    status: str
    """``proved``, ``counterexample``, ``vacuous`` or ``unknown``."""
    seconds: float
    counterexample: dict[str, str] | None = None
    regression: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class WitnessResult:
    """Outcome of one witness query."""

    what: str
    found: bool
    model: dict[str, str] | None
    text: str
    inputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Result:
    """Outcome of one obligation for one preset."""

    name: str
    statement: str
    formula: str
    rule: str
    widths: str
    parts: list[PartResult]
    witnesses: list[WitnessResult]
    seconds: float

    @property
    def ok(self) -> bool:
        """Every part proved and every witness found."""
        return all(p.status == "proved" for p in self.parts) and all(
            w.found for w in self.witnesses
        )

    @property
    def status(self) -> str:
        """``proved`` or the first failure's kind."""
        for p in self.parts:
            if p.status != "proved":
                return p.status
        if not all(w.found for w in self.witnesses):
            return "no-witness"
        return "proved"


def value(m: z3.ModelRef, t: Term) -> int | Fraction | bool:
    """A term's value in a model: signed int for bit-vectors, Fraction for reals."""
    v = m.eval(t, model_completion=True)
    if z3.is_bv_value(v):
        return int(v.as_signed_long())
    if z3.is_int_value(v):
        return int(v.as_long())
    if z3.is_rational_value(v):
        return Fraction(int(v.numerator_as_long()), int(v.denominator_as_long()))
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_algebraic_value(v):
        return Fraction(str(v.approx(20)).rstrip("?"))
    raise ValueError(f"cannot read model value {v!r}")


def _read(m: z3.ModelRef, show: Mapping[str, Term]) -> dict[str, int | Fraction | bool]:
    return {k: value(m, t) for k, t in show.items()}


def _fmt(vals: Mapping[str, int | Fraction | bool]) -> dict[str, str]:
    return {k: str(v) for k, v in vals.items()}


def _decide(formulas: list[Term]) -> z3.CheckSatResult:
    """Whether ``formulas`` are satisfiable (``unknown`` after :data:`CHECK_TIMEOUT_MS`).

    Quantifier-free bit-vector queries (``is-qfbv`` probe) first go to Z3's ``qfbv``
    tactic (bit-blasting) for :data:`QFBV_TRY_MS`, which decides queries such as
    ``lin.time_eq_count``'s an order of magnitude faster than the default solver;
    when it does not finish in that time (multiplications of variables), the
    default solver decides.  Both are decision procedures for the same formulas, so
    the answer is the same; only the validity checks use this, while witness models
    and counterexamples come from the default solver (the boundary vectors and the
    regression files do not depend on it).
    """
    goal = z3.Goal()
    goal.add(*formulas)
    if z3.Probe("is-qfbv")(goal) == 1.0:
        fast = z3.TryFor(z3.Tactic("qfbv"), QFBV_TRY_MS).solver()
        fast.add(*formulas)
        r = fast.check()
        if r != z3.unknown:
            return r
    s = z3.Solver()
    s.set("timeout", CHECK_TIMEOUT_MS)
    s.add(*formulas)
    return s.check()


def check_part(part: Part) -> PartResult:
    """Premises satisfiable, then claim (with no-overflow) valid under them."""
    t0 = time.perf_counter()
    r = _decide(list(part.premises))
    if r == z3.unsat:
        return PartResult(part.label, "vacuous", time.perf_counter() - t0)
    if r != z3.sat:
        return PartResult(part.label, "unknown", time.perf_counter() - t0)
    goal = z3.And(part.claim, *part.no_overflow) if part.no_overflow else part.claim
    # The conjunction is valid exactly when each conjunct is: deciding them one by one
    # keeps each query small (a multiplication's overflow condition alone, say), which
    # Z3 decides far faster than the whole conjunction at once.
    r = z3.unsat
    for conjunct in (part.claim, *part.no_overflow):
        r = _decide([*part.premises, z3.Not(conjunct)])
        if r != z3.unsat:
            break
    dt = time.perf_counter() - t0
    if r == z3.unsat:
        return PartResult(part.label, "proved", dt)
    if r == z3.sat:
        vals = _canonical_counterexample(part, goal)
        reg = part.regression(vals) if part.regression is not None else []
        return PartResult(part.label, "counterexample", dt, _fmt(vals), reg)
    return PartResult(part.label, "unknown", dt)


def _canonical_counterexample(part: Part, goal: Term) -> dict[str, int | Fraction | bool]:
    """A counterexample found again in a fresh context (deterministic regression files)."""
    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    s.set("timeout", CHECK_TIMEOUT_MS)
    s.add(*[p.translate(ctx) for p in part.premises])
    s.add(z3.Not(goal.translate(ctx)))
    if s.check() != z3.sat:  # pragma: no cover - the same query was just satisfiable
        raise RuntimeError(f"counterexample of {part.label} not reproducible")
    return _read(s.model(), {k: t.translate(ctx) for k, t in part.show.items()})


def find_witness(w: Witness) -> WitnessResult:
    """Ask Z3 for a model of the premises and the witness condition.

    The query runs in a fresh Z3 context, so the model depends only on the query
    (boundary vectors are byte-identical on every run).
    """
    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    s.set("timeout", CHECK_TIMEOUT_MS)
    s.add(*[p.translate(ctx) for p in w.premises])
    s.add(w.condition.translate(ctx))
    if s.check() != z3.sat:
        return WitnessResult(w.what, False, None, "no model: the bound is not reached")
    vals = _read(s.model(), {k: t.translate(ctx) for k, t in w.show.items()})
    text = ", ".join(f"{k}={v}" for k, v in vals.items())
    if w.render is not None:
        text += "; " + w.render(vals)
    inputs = w.inputs(vals) if w.inputs is not None else []
    return WitnessResult(w.what, True, _fmt(vals), text, inputs)


def discharge(ob: Obligation, preset: Any, impl: Any) -> Result:
    """Build ``ob`` for ``preset`` with ``impl`` and run every part and witness."""
    t0 = time.perf_counter()
    built = ob.build(preset, impl)
    parts = [check_part(p) for p in built.parts]
    witnesses = [find_witness(w) for w in built.witnesses]
    return Result(
        ob.name, ob.statement, ob.formula, ob.rule, built.widths, parts, witnesses,
        time.perf_counter() - t0,
    )


# -- building blocks of obligations --------------------------------------------


def in_range(x: Term, lo: int, hi: int) -> Term:
    """``lo <= x <= hi`` (signed bit-vector or integer)."""
    return z3.And(x >= lo, x <= hi)


def pow2_of(k: Term, ks: Sequence[int], width: int) -> Term:
    """``2**k`` as a ``width``-bit term, for ``k`` known to be one of the constants ``ks``."""
    r = z3.BitVecVal(0, width)
    for kk in ks:
        r = z3.If(k == kk, z3.BitVecVal(1 << kk, width), r)
    return r


def sext(x: Term, width: int) -> Term:
    """Sign-extend bit-vector ``x`` to ``width`` bits."""
    extra = width - x.size()
    return x if extra == 0 else z3.SignExt(extra, x)


def bv(n: int, width: int) -> Term:
    """A bit-vector constant."""
    return z3.BitVecVal(n, width)


def sorted_unique(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deterministic order without duplicates (by canonical JSON)."""
    import json

    seen: dict[str, dict[str, Any]] = {}
    for it in items:
        seen.setdefault(json.dumps(it, sort_keys=True), it)
    return [seen[k] for k in sorted(seen)]
