"""Proof obligations and how one is discharged (spec/09-theorems.md, "Method").

An :class:`Obligation` is a named theorem.  Building it for a preset yields
:class:`Part` checks (each a set of premises and a claim, over bit-vectors,
unbounded integers or reals) and :class:`Witness` queries.  Discharging it:

1. each part's premises must be satisfiable, else the part is *vacuous* (a
   failure: a proof about nothing proves nothing);
2. ``premises and not (claim and no-overflow)`` must be unsatisfiable; a model
   is a *counterexample*.  A part's :class:`Bound` lemmas, proven first, let
   this be decided with the bounded term generalized to any value in its range
   (:func:`check_part`);
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


@dataclass(frozen=True)
class Bound:
    """A lemma of a part: ``lo <= term <= hi`` whenever the part's premises hold."""

    term: Term
    lo: int
    hi: int


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
    bounds: list[Bound] = field(default_factory=list)
    """Range lemmas that let the checks see a hard term (a symbolic product) as any value
    in its proven range (:func:`check_part`)."""


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


def _decide(ctx: z3.Context, formulas: list[Term]) -> z3.CheckSatResult:
    """Whether ``formulas`` (terms of ``ctx``) are satisfiable (``unknown`` after
    :data:`CHECK_TIMEOUT_MS`).

    Quantifier-free bit-vector queries (``is-qfbv`` probe) first go to Z3's ``qfbv``
    tactic (bit-blasting) for :data:`QFBV_TRY_MS`, which decides queries such as
    ``lin.time_eq_count``'s an order of magnitude faster than the default solver;
    when it does not finish in that time (multiplications of variables), the
    default solver decides.  Both are decision procedures for the same formulas, so
    the answer is the same; only the validity checks use this, while witness models
    and counterexamples come from the default solver (the boundary vectors and the
    regression files do not depend on it).
    """
    goal = z3.Goal(ctx=ctx)
    goal.add(*formulas)
    if z3.Probe("is-qfbv", ctx)(goal) == 1.0:
        fast = z3.TryFor(z3.Tactic("qfbv", ctx), QFBV_TRY_MS, ctx).solver()
        fast.add(*formulas)
        r = fast.check()
        if r != z3.unknown:
            return r
    s = z3.Solver(ctx=ctx)
    s.set("timeout", CHECK_TIMEOUT_MS)
    s.add(*formulas)
    return s.check()


def check_part(part: Part, ctx: z3.Context | None = None) -> PartResult:
    """Premises satisfiable, then claim (with no-overflow) valid under them.

    The checks run in ``ctx`` (a new Z3 context when None), never in the context
    the obligations are built in, which keeps the search state of one obligation's
    checks out of the others'.  Only the answers of these checks are used; a
    counterexample is found again from the query's SMT-LIB text
    (:func:`model_of_text`), so what is reported does not depend on what was
    solved before it.

    With :attr:`Part.bounds` proven, the validity check is first decided generalized
    (:func:`generalize`); only when that does not prove it is the query itself
    decided, so the bounds change the time of a check, never its answer.
    """
    t0 = time.perf_counter()
    original = part
    ctx = z3.Context() if ctx is None else ctx
    part = _translate(part, ctx)
    r = _decide(ctx, list(part.premises))
    if r == z3.unsat:
        return PartResult(part.label, "vacuous", time.perf_counter() - t0)
    if r != z3.sat:
        return PartResult(part.label, "unknown", time.perf_counter() - t0)
    goal = z3.And(part.claim, *part.no_overflow) if part.no_overflow else part.claim
    r = z3.unknown
    general = generalize(part)
    if general is not None:
        premises, rewrite = general
        r = _decide(ctx, [*premises, z3.Not(rewrite(goal))])
    if r != z3.unsat:
        r = _decide(ctx, [*part.premises, z3.Not(goal)])
    dt = time.perf_counter() - t0
    if r == z3.unsat:
        return PartResult(part.label, "proved", dt)
    if r == z3.sat:
        vals = _canonical_counterexample(original)
        reg = part.regression(vals) if part.regression is not None else []
        return PartResult(part.label, "counterexample", dt, _fmt(vals), reg)
    return PartResult(part.label, "unknown", dt)


def _translate(part: Part, ctx: z3.Context) -> Part:
    """``part`` with the formulas it is decided on translated to ``ctx``."""
    def tr(t: Term) -> Term:
        return t.translate(ctx)

    return Part(part.label, [tr(p) for p in part.premises], tr(part.claim), part.show,
                [tr(c) for c in part.no_overflow], part.regression,
                [Bound(tr(b.term), b.lo, b.hi) for b in part.bounds])


def generalize(part: Part) -> tuple[list[Term], Callable[[Term], Term]] | None:
    """Premises and a rewriting that replace each bound's term ``t`` by a fresh ``v``.

    Each lemma ``premises => lo <= t <= hi`` is proven first (``None`` when one is
    not: then nothing is generalized).  The premises returned are the part's with
    ``t`` replaced, plus ``lo <= v <= hi``; the rewriting replaces ``t`` likewise.
    Sound: a model of the original query gives one of the generalized query with
    ``v = t`` (the lemma puts it in range),
    so "generalized unsatisfiable" implies "original unsatisfiable".  The converse
    does not hold (a generalized model may be no real input), which is why
    :func:`check_part` decides the original query whenever the generalized one is
    not unsatisfiable.  Generalizing a product of symbols leaves a linear query:
    ``x*M + bias`` not overflowing takes Z3 from a fraction of a second to tens of
    seconds with the product bit-blasted (the time depends on the search order, so
    on everything built before in the Z3 context), and milliseconds with any ``v``
    in the product's range.
    """
    if not part.bounds:
        return None
    taken = _constant_names([*part.premises, part.claim, *part.no_overflow])
    pairs: list[tuple[Term, Term]] = []
    ranges: list[Term] = []
    for i, b in enumerate(part.bounds):
        lemma = [*part.premises, z3.Not(in_range(b.term, b.lo, b.hi))]
        if _decide(b.term.ctx, lemma) != z3.unsat:
            return None
        name = f"bound!{i}"
        while name in taken:
            name += "'"
        v = z3.Const(name, b.term.sort())
        pairs.append((b.term, v))
        ranges.append(in_range(v, b.lo, b.hi))

    def rewrite(t: Term) -> Term:
        return z3.substitute(t, *pairs)

    return [*(rewrite(p) for p in part.premises), *ranges], rewrite


def _constant_names(formulas: Sequence[Term]) -> set[str]:
    """Names of the uninterpreted constants in ``formulas``.

    A generalized value gets a name outside this set (not ``z3.FreshConst``, whose
    names count up over the whole process, so a check's query would depend on what
    ran before it).
    """
    names: set[str] = set()
    seen: set[int] = set()
    todo = list(formulas)
    while todo:
        t = todo.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_const(t) and t.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            names.add(t.decl().name())
        todo.extend(t.children())
    return names


WITNESS_SOLVER_PARAMS: tuple[tuple[str, int], ...] = (
    ("timeout", CHECK_TIMEOUT_MS), ("random_seed", 0), ("threads", 1))
"""Parameters of the solver that finds witness models and canonical counterexamples,
set on it so that no global Z3 setting changes them."""


def query_text(formulas: Sequence[Term]) -> str:
    """The SMT-LIB text (declarations and assertions) of the query ``formulas``.

    It is a function of the formulas alone, whatever else was built or solved in
    their Z3 context.
    """
    s = z3.Solver(ctx=formulas[0].ctx)
    s.add(*formulas)
    return str(s.sexpr())


def model_of_text(text: str, show: Mapping[str, Term]
                  ) -> tuple[z3.CheckSatResult, dict[str, int | Fraction | bool] | None]:
    """Decide the SMT-LIB query ``text`` in a new Z3 context; the values of ``show``.

    The solver uses :data:`WITNESS_SOLVER_PARAMS` and sees only the parsed text, so
    the model depends on the text alone: not on what was solved earlier in the
    process, on the context the terms were built in, or on global Z3 parameters.
    ``show``'s terms are read in the model through their constants' names and sorts
    (a Z3 constant is its name and sort in every context).  The values are None
    unless the query is satisfiable.
    """
    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    for key, val in WITNESS_SOLVER_PARAMS:
        s.set(key, val)
    s.add(z3.parse_smt2_string(text, ctx=ctx))
    r = s.check()
    if r != z3.sat:
        return r, None
    m = s.model()
    return r, _read(m, {k: t.translate(ctx) for k, t in show.items()})


def _canonical_counterexample(part: Part) -> dict[str, int | Fraction | bool]:
    """A counterexample found again from the query's text (:func:`model_of_text`), so
    the regression files do not depend on what ran before."""
    goal = z3.And(part.claim, *part.no_overflow) if part.no_overflow else part.claim
    r, vals = model_of_text(query_text([*part.premises, z3.Not(goal)]), part.show)
    if vals is None:  # pragma: no cover - the same query was just satisfiable
        raise RuntimeError(f"counterexample of {part.label} not reproducible ({r})")
    return vals


def find_witness(w: Witness) -> WitnessResult:
    """Ask Z3 for a model of the premises and the witness condition.

    The query goes to a new Z3 context as SMT-LIB text (:func:`model_of_text`), so
    the model depends only on the query: boundary vectors and printed witnesses are
    the same whatever ran before in the process (``--only``, ``--jobs``).
    """
    r, vals = model_of_text(query_text([*w.premises, w.condition]), w.show)
    if vals is None:
        why = "the bound is not reached" if r == z3.unsat else f"Z3 answered {r}"
        return WitnessResult(w.what, False, None, f"no model: {why}")
    text = ", ".join(f"{k}={v}" for k, v in vals.items())
    if w.render is not None:
        text += "; " + w.render(vals)
    inputs = w.inputs(vals) if w.inputs is not None else []
    return WitnessResult(w.what, True, _fmt(vals), text, inputs)


def discharge(ob: Obligation, preset: Any, impl: Any) -> Result:
    """Build ``ob`` for ``preset`` with ``impl`` and run every part and witness."""
    t0 = time.perf_counter()
    built = ob.build(preset, impl)
    ctx = z3.Context()
    parts = [check_part(p, ctx) for p in built.parts]
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
