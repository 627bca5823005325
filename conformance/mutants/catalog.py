"""The mutant catalog: plausible hardware bugs, each a backend (spec/11-backend-protocol.md).

A mutant is a port with exactly one bug.  It runs the reference on every
operator except the one its bug affects; there it runs the operator's variant
(:mod:`conformance.mutants.op_variants`) with the knobs that name the bug.  Validation is
the reference's: a mutant rejects exactly what the reference rejects, with the
same class, so it can only be told apart by its arithmetic.  It returns the
normative outputs only, so a kill never rests on an optional profile output.

The committed vectors must tell every mutant apart from the reference
(``sorbet-ref mutants``, tests/test_mutants.py); docs/mutants.md lists the
catalog and is generated from it (``sorbet-ref mutants --doc``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from conformance.mutants import model_variants as mv
from conformance.mutants import op_variants as v
from conformance.operators import config_from_dict, config_to_dict, get_op, run_reference
from conformance.runner.backends import Rejected

JSON = Any
"""A value decoded from JSON."""

BUG_CLASSES: dict[str, str] = {
    "floor-for-ceil": "a rounding direction reversed (floor or truncation for ceil)",
    "rounding": "the wrong rounding rule (mode, or linear where the spec says log domain)",
    "rounding-tie": "ties broken the wrong way",
    "masking": "masked entries leaking into the computation, or the all-masked row",
    "precision": "a fractional precision off by one",
    "off-by-one-shift": "a shift amount off by one",
    "small-terms": "terms below the declared precision kept instead of dropped",
    "shift-width": "a shift at or past the width (shift count masked)",
    "eps": "the eps term of BSPN dropped",
    "group-size": "the wrong group size or mean divisor",
    "abs-sign": "absolute value or sign handled wrongly",
    "sign-extension": "a negative value shifted without sign extension (a logical shift)",
    "sign-zero": "sign(0), or a zero/minus sign bit, decoded the wrong way",
    "saturation": "a missing saturation or clamp (the value wraps)",
    "underflow": "underflow not flushed to zero",
    "bias": "a bias or offset ignored or off by one",
    "threshold-equality": "the IF compare or threshold off at equality",
    "reset": "the IF reset or initial potential",
    "accumulator-overflow": "an accumulator narrower than the fan-in needs",
    "wiring": "a block fed the wrong tensor, token or channel group",
    "scaling": "a scale factor dropped or applied at the wrong place",
}
"""Bug classes of the catalog, each explained once."""


@dataclass(frozen=True)
class Mutant:
    """One plausible bug: an ``id``, the operator it affects, its class and knobs.

    An operator-level mutant affects ``op`` only.  A model-level mutant
    (:class:`conformance.mutants.model_variants.ModelKnobs`) affects every model-level
    operator whose computation holds the buggy step, listed in ``ops`` (``op`` is
    the first of them, the innermost block with the bug).
    """

    id: str
    op: str
    bug_class: str
    description: str
    knobs: v.Knobs | mv.ModelKnobs
    ops: tuple[str, ...] = ()

    def affects(self) -> tuple[str, ...]:
        """The operators this mutant computes wrongly (``ops``, else ``(op,)``)."""
        return self.ops or (self.op,)

    @property
    def model_level(self) -> bool:
        """True for a bug of the model blocks (:mod:`conformance.mutants.model_variants`)."""
        return isinstance(self.knobs, mv.ModelKnobs)

    def knob_text(self) -> str:
        """The knobs that differ from their defaults, as ``name=value``."""
        default = type(self.knobs)()
        return ", ".join(
            f"{f.name}={getattr(self.knobs, f.name)!r}"
            for f in fields(self.knobs)
            if getattr(self.knobs, f.name) != getattr(default, f.name)
        )


def _m(mid: str, bug_class: str, description: str, knobs: v.Knobs) -> Mutant:
    op = {
        v.PTSoftmaxKnobs: "ptsoftmax", v.BSPNKnobs: "bspn", v.QuantKnobs: "quantize",
        v.IFKnobs: "if_encode", v.LinearKnobs: "binary_linear",
    }[type(knobs)]
    return Mutant(mid, op, bug_class, description, knobs)


def _mm(mid: str, bug_class: str, description: str, ops: tuple[str, ...],
        knobs: mv.ModelKnobs) -> Mutant:
    return Mutant(mid, ops[0], bug_class, description, knobs, ops)


PT, BS, QU, IF, LI = v.PTSoftmaxKnobs, v.BSPNKnobs, v.QuantKnobs, v.IFKnobs, v.LinearKnobs
MK = mv.ModelKnobs
ATT = ("attention", "encoder_layer", "model")
"""Operators that run the attention block."""
FFN = ("ffn", "encoder_layer", "model")
"""Operators that run the feed-forward block."""
ALL = ("attention", "ffn", "encoder_layer", "model")
"""Every model-level operator."""

CATALOG: tuple[Mutant, ...] = (
    _m("ptsm-score-floor", "floor-for-ceil", "scores rounded down (floor) instead of up (ceil)",
       PT(score_rounding="floor")),
    _m("ptsm-score-trunc", "floor-for-ceil", "scores truncated toward zero instead of ceil",
       PT(score_rounding="trunc")),
    _m("ptsm-score-half-up", "rounding", "scores rounded to nearest (ties up) instead of ceil",
       PT(score_rounding="half_up")),
    _m("ptsm-ceil-no-sign-extension", "sign-extension",
       "ceil by add-and-shift with a logical shift: negative scores lose their sign",
       PT(score_rounding="ceil_logical")),
    _m("ptsm-partition-ties-down", "rounding-tie",
       "partition's nearest power of two breaks ties down (Z = 1.5 * 2^k gives 2^k)",
       PT(partition_pow2="linear_down")),
    _m("ptsm-partition-log", "rounding",
       "partition rounded to the nearest power of two in the log domain, not linear distance",
       PT(partition_pow2="log")),
    _m("ptsm-partition-floor", "rounding",
       "partition replaced by its leading one (floor power of two), next bit ignored",
       PT(partition_pow2="floor")),
    _m("ptsm-masked-in-max", "masking", "masked entries take part in the row maximum",
       PT(masked_in_max=True)),
    _m("ptsm-masked-in-partition", "masking", "masked entries' terms are counted in Z",
       PT(masked_in_partition=True)),
    _m("ptsm-all-masked-uniform", "masking",
       "an all-masked row gives a uniform distribution instead of zeros",
       PT(all_masked_uniform=True)),
    _m("ptsm-partition-frac-minus1", "precision", "terms and Z kept with F - 1 fractional bits",
       PT(partition_frac_delta=-1)),
    _m("ptsm-partition-frac-plus1", "precision", "terms and Z kept with F + 1 fractional bits",
       PT(partition_frac_delta=1)),
    _m("ptsm-out-shift-minus1", "off-by-one-shift", "outputs shifted right by K - 1",
       PT(out_shift_delta=-1)),
    _m("ptsm-out-shift-plus1", "off-by-one-shift", "outputs shifted right by K + 1",
       PT(out_shift_delta=1)),
    _m("ptsm-small-terms-saturate", "small-terms",
       "terms below 2^-F kept as the smallest unit instead of dropped",
       PT(small_terms="saturate")),
    _m("ptsm-shift-mod32", "shift-width",
       "term shifter takes the distance modulo 32, so d >= 32 wraps around",
       PT(small_terms="mod32")),
    _m("bspn-eps-dropped", "eps", "eps dropped: divisor from mean|x| alone",
       BS(eps=False)),
    _m("bspn-divisor-strict", "floor-for-ceil",
       "divisor exponent is the smallest j with G*2^j > A (strict) instead of >=",
       BS(divisor="strict")),
    _m("bspn-divisor-floor", "floor-for-ceil",
       "divisor exponent floor(log2(mean + eps)) instead of ceil",
       BS(divisor="floor")),
    _m("bspn-group-token", "group-size", "one group per token instead of per group",
       BS(grouping="token")),
    _m("bspn-group-pow2", "group-size", "group size rounded up to a power of two",
       BS(grouping="pow2")),
    _m("bspn-mean-shift", "group-size",
       "mean computed by a shift: sum divided by 2^floor(log2 G) instead of G",
       BS(mean_by_shift=True)),
    _m("bspn-abs-ones-complement", "abs-sign",
       "|x| of a negative x taken as its ones' complement (-x - 1)",
       BS(abs_ones_complement=True)),
    _m("bspn-zero-weight-plus", "sign-zero", "weight sign 0 applied as +1",
       BS(zero_weight_as_plus=True)),
    _m("bspn-out-linear", "rounding",
       "output rounded to the nearest power of two in linear distance, not log domain",
       BS(out_rounding="linear_up")),
    _m("bspn-out-floor", "rounding", "output truncated to its leading one (floor log2)",
       BS(out_rounding="floor")),
    _m("bspn-no-saturation", "saturation", "output exponent above the format wraps, no saturation",
       BS(saturate=False)),
    _m("bspn-underflow-min", "underflow",
       "output below the smallest power clamped to it instead of flushed to zero",
       BS(underflow_to_min=True)),
    _m("bspn-bias-ignored", "bias", "bias not added", BS(bias=False)),
    _m("bspn-narrow-intermediate", "precision",
       "y floored to out_frac + 1 fractional bits before the log-domain rounding",
       BS(intermediate_frac=1)),
    _m("bspn-int64", "accumulator-overflow",
       "A, G * 2^j and N held in int64 registers: right where they fit 64 bits, wraps "
       "on Sorbet's widest inputs and the general configurations", BS(register_bits=64)),
    _m("quant-half-up", "rounding-tie", "ties rounded up instead of to even",
       QU(rounding="half_up")),
    _m("quant-half-away", "rounding-tie", "ties rounded away from zero instead of to even",
       QU(rounding="half_away")),
    _m("quant-trunc", "rounding", "truncation toward zero instead of round-half-even",
       QU(rounding="trunc")),
    _m("quant-floor", "rounding", "plain arithmetic shift (floor) instead of round-half-even",
       QU(rounding="floor")),
    _m("quant-no-clamp", "saturation", "no clamp: the value wraps at the count's bits",
       QU(clamp="wrap")),
    _m("quant-shift-mod32", "shift-width",
       "shift amount taken modulo 32 (a 5-bit shifter), so shifts >= 32 wrap",
       QU(shift_mask=31)),
    _m("quant-bias-rounded-apart", "rounding",
       "x*M and bias shifted and rounded separately, then added (double rounding)",
       QU(bias_rounded_apart=True)),
    _m("quant-signed-offset-minus1", "bias", "signed offset 2^(b-1) - 1 instead of 2^(b-1)",
       QU(signed_offset_delta=-1)),
    _m("quant-unsigned-negative", "saturation",
       "negative values of an unsigned quantizer not clamped to 0",
       QU(clamp="upper_only")),
    _m("if-strict", "threshold-equality", "fires when V > T instead of V >= T",
       IF(strict=True)),
    _m("if-reset-zero", "reset", "resets the membrane to zero instead of subtracting T",
       IF(reset_to_zero=True)),
    _m("if-initial-half", "reset", "membrane starts at T/2 instead of 0",
       IF(initial_half=True)),
    _m("if-threshold-minus1", "threshold-equality", "threshold T - 1 instead of T",
       IF(threshold_delta=-1)),
    _m("if-fire-before-integrate", "threshold-equality",
       "compares before adding the input in each step",
       IF(fire_before_integrate=True)),
    _m("lin-acc-wrap-8", "accumulator-overflow", "accumulator wraps at 8 bits",
       LI(acc_bits=8)),
    _m("lin-acc-wrap-12", "accumulator-overflow", "accumulator wraps at 12 bits",
       LI(acc_bits=12)),
    _m("lin-acc-one-bit-short", "accumulator-overflow",
       "accumulator one bit narrower than the fan-in needs (wraps)",
       LI(acc_bits_below_declared=1)),
    _m("lin-minus-as-zero", "sign-zero", "sign bit 0 decoded as weight 0 instead of -1",
       LI(minus_as_zero=True)),
    _m("lin-inverted-signs", "sign-zero", "sign bits read with the opposite polarity",
       LI(inverted_sign_bits=True)),
    _m("lin-offset-per-step", "bias",
       "time level: offset o * sum(s) subtracted at every step instead of once",
       LI(offset_per_step=True)),
    _m("lin-offset-minus1", "bias", "signed-input offset 2^(b-1) - 1 instead of 2^(b-1)",
       LI(offset_delta=-1)),
    _m("lin-offset-for-unsigned", "bias", "offset 2^(b-1) subtracted for unsigned input too",
       LI(offset_for_unsigned=True)),
    _mm("att-qkv-move-dropped", "bias",
        "Q/K/V input moves (in_bias of q, k, v) dropped, as if the authors' unused "
        "output-side moves were meant", ATT, MK(qkv_in_bias=False)),
    _mm("att-kv-swapped", "wiring", "K and V counts swapped (keys from the V projection)",
        ATT, MK(kv_swapped=True)),
    _mm("att-score-floor-after-ceil", "scaling",
        "score scaled by a plain right shift after the ceil stage: "
        "floor(S * score_mult / 2^score_frac)", ATT, MK(score_scale="floor_after_ceil")),
    _mm("att-score-mult-dropped", "scaling", "score_mult ignored: x = S", ATT,
        MK(score_scale="dropped")),
    _mm("att-masked-query-zeroed", "masking",
        "probability rows of padding queries zeroed instead of computed", ATT,
        MK(masked_query_rows="zeroed")),
    _mm("att-prob-half-up", "rounding-tie", "probability counts rounded half up, not half even",
        ATT, MK(prob_rounding="half_up")),
    _mm("att-ctx-prob-offset", "bias",
        "context subtracts o from the unsigned probability counts, as if signed", ATT,
        MK(ctx_prob_offset=True)),
    _mm("att-prob-offset-none", "bias",
        "no probability offset: counts of p instead of p - pm on sequences without padding "
        "(the rule before the offset)", ATT, MK(prob_offset="none")),
    _mm("att-prob-offset-per-head", "bias",
        "probability offset from each head's own minimum instead of the layer's", ATT,
        MK(prob_offset="per_head")),
    _mm("att-prob-offset-per-row", "bias",
        "probability offset from each query row's own minimum instead of the layer's", ATT,
        MK(prob_offset="per_row")),
    _mm("att-ctx-offset-dropped", "bias",
        "the probability offset subtracted before the quantizer, the context offset W * V "
        "never added to o's input bias", ATT, MK(ctx_offset=False)),
    _mm("res-wrap", "saturation", "residual sum wraps at r_width bits instead of saturating",
        ALL, MK(residual="wrap")),
    _mm("ffn-residual-from-r1", "wiring",
        "feed-forward residual adds r1 (the input of BSPN_1) instead of h1",
        ("encoder_layer", "model"), MK(ffn_residual_from="r1")),
    _mm("ffn-relu-missing", "saturation",
        "no ReLU clamp on u: negative u reaches the FFN2 input quantizer", FFN,
        MK(ffn_relu=False)),
    _mm("bspn-groups-whole-hidden", "group-size",
        "BSPN groups over the whole hidden instead of per group (head)", ALL,
        MK(bspn_whole_hidden=True)),
    _mm("pool-last-token", "wiring", "pooler reads the last token instead of the first",
        ("model",), MK(pool_token="last")),
    _mm("cls-bias-dropped", "bias", "classifier bias not added", ("model",),
        MK(cls_bias=False)),
)
"""Every mutant, in the order reports list them."""

MUTANTS: dict[str, Mutant] = {m.id: m for m in CATALOG}


def get_mutant(mid: str) -> Mutant:
    """The mutant called ``mid``; KeyError lists the known ids otherwise."""
    try:
        return MUTANTS[mid]
    except KeyError:
        raise KeyError(f"unknown mutant {mid!r}; known: {', '.join(MUTANTS)}") from None


_REFERENCE_CACHE: dict[str, dict[str, JSON]] = {}
_REFERENCE_CACHE_MAX = 8192


def _reference(op: str, config: Mapping[str, JSON], inputs: Mapping[str, JSON]) -> dict[str, JSON]:
    """``run_reference``, memoised: every mutant of an operator runs the same vectors."""
    key = json.dumps([op, config, inputs], sort_keys=True, separators=(",", ":"))
    hit = _REFERENCE_CACHE.get(key)
    if hit is None:
        if len(_REFERENCE_CACHE) >= _REFERENCE_CACHE_MAX:
            _REFERENCE_CACHE.clear()
        hit = _REFERENCE_CACHE[key] = run_reference(op, dict(config), inputs)
    copy: dict[str, JSON] = json.loads(json.dumps(hit))  # callers may not alter the cache
    return copy


class MutantBackend:
    """A Python backend (spec/11-backend-protocol.md) with the one bug of ``mutant``."""

    def __init__(self, mutant: Mutant) -> None:
        self.mutant = mutant
        self.name = f"mutant:{mutant.id}"

    def run(self, op: str, config: dict[str, JSON], inputs: dict[str, JSON]) -> dict[str, JSON]:
        """Normative outputs; raises :class:`Rejected` exactly where the reference rejects."""
        ref = _reference(op, config, inputs)
        if "reject" in ref:
            raise Rejected(ref["reject"], ref["message"])
        spec = get_op(op)
        knobs = self.mutant.knobs
        if op not in self.mutant.affects():
            outputs: dict[str, JSON] = ref["outputs"]
        elif isinstance(knobs, mv.ModelKnobs):
            outputs = mv.run(op, config_from_dict(spec, config, op), inputs, knobs)
        else:
            outputs = v.run_variant(op, config_from_dict(spec, config, op), inputs, knobs)
        return {k: outputs[k] for k in spec.outputs}


def backends(ids: Iterable[str] | None = None) -> list[MutantBackend]:
    """Backends of the named mutants (all of them by default)."""
    chosen = CATALOG if ids is None else tuple(get_mutant(i) for i in ids)
    return [MutantBackend(m) for m in chosen]


def differs(
    mutant: Mutant, op: str, config: Mapping[str, JSON], inputs: Mapping[str, JSON]
) -> bool:
    """True if ``mutant``'s normative outputs differ from the reference's on a valid input."""
    ref = run_reference(op, dict(config), inputs)
    if "reject" in ref or op not in mutant.affects():
        return False
    got = MutantBackend(mutant).run(op, dict(config), dict(inputs))
    return any(got[k] != ref["outputs"][k] for k in get_op(op).outputs)


# --------------------------------------------------------------------- kill table


@dataclass
class KillRow:
    """How the vectors fared against one mutant."""

    mutant: Mutant
    vectors: int = 0
    """Vectors of the mutant's operators that ran."""
    kills: int = 0
    """Vectors the mutant failed (a mismatch, or a wrong or missing rejection)."""
    first_kill: str | None = None
    """Id of the first failing vector, in the runner's order."""
    problems: list[str] = field(default_factory=list)
    """Run-level problems the runner reported (manifest, files)."""

    @property
    def survived(self) -> bool:
        """True if no vector told the mutant apart from the reference."""
        return self.kills == 0


def run_mutant(mutant: Mutant, vectors_dir: Path) -> KillRow:
    """Run ``mutant`` through :func:`conformance.runner.check.run` on its operator's vectors.

    One full runner run (manifest, hashes, lint, one pass); :func:`kill_table`
    gives the same rows for many mutants while loading the vectors once.
    """
    from conformance.runner.backends import InProcess
    from conformance.runner.check import Options, run

    res = run(Options(vectors_dir, include=list(mutant.affects()), passes=1),
              InProcess(MutantBackend(mutant), timeout=None))
    row = KillRow(mutant, problems=list(res.problems))
    for o in res.outcomes:
        if o.op in mutant.affects():
            _count(row, o.id, o.failed)
    return row


def _count(row: KillRow, vector_id: str, failed: bool) -> None:
    row.vectors += 1
    if failed:
        row.kills += 1
        if row.first_kill is None:
            row.first_kill = vector_id


def kill_table(vectors_dir: Path, ids: Iterable[str] | None = None,
               progress: Callable[[KillRow], None] | None = None) -> list[KillRow]:
    """One :class:`KillRow` per mutant (all by default), in catalog order.

    The vectors are loaded once through the runner's loader
    (:func:`conformance.vectors.manifest.load_vectors`: manifest, hashes, lint); each
    vector of the mutant's operator is run through the runner's in-process
    executor and judged by :func:`conformance.runner.check.judge`, exactly as
    ``sorbet-ref check`` judges it, in the runner's order.  Vectors of operators
    outside :meth:`Mutant.affects` cannot kill a mutant (it
    computes them exactly) and are not run.
    """
    from conformance.runner.backends import InProcess
    from conformance.runner.check import FAIL_STATUSES, judge
    from conformance.vectors.manifest import load_vectors

    chosen = CATALOG if ids is None else tuple(get_mutant(i) for i in ids)
    loaded = load_vectors(vectors_dir)
    problems = list(loaded.problems)
    if not loaded.files and not problems:
        problems.append(f"{vectors_dir}: no vectors loaded")
    every: list[Mapping[str, JSON]] = [vec for _entry, data in loaded.files
                                       for vec in data["vectors"]]
    rows: list[KillRow] = []
    for m in chosen:
        row = KillRow(m, problems=problems)
        executor = InProcess(MutantBackend(m), timeout=None)
        ops = m.affects()
        for vec in (x for x in every if x["op"] in ops):
            status = judge(vec, executor.call(vec))[0]
            _count(row, str(vec["id"]), status in FAIL_STATUSES)
        executor.close()
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


# --------------------------------------------------------------------- witness search


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in ``[lo, hi]`` biased to the bounds, zero, small values and powers of two."""
    special = sorted({x for x in (lo, hi, 0, 1, -1, lo + 1, hi - 1) if lo <= x <= hi})
    pows = sorted({s * (1 << k) for k in range(max(hi.bit_length(), (-lo).bit_length()))
                   for s in (1, -1) if lo <= s * (1 << k) <= hi})
    small = st.integers(max(lo, -16), min(hi, 16))
    return st.one_of(st.sampled_from(special), small, st.sampled_from(pows or special),
                     st.integers(lo, hi))


def _vector(elem: st.SearchStrategy[int], n: int) -> st.SearchStrategy[list[int]]:
    """Lists of ``n`` elements: independent draws, or one value repeated."""
    return st.one_of(st.lists(elem, min_size=n, max_size=n), elem.map(lambda x: [x] * n))


@st.composite
def _ptsoftmax_inputs(draw: st.DrawFn, cfg: Any) -> dict[str, JSON]:
    fmt = cfg.score_format
    n = draw(st.integers(1, min(cfg.max_len, 12)))
    base = draw(_ints(fmt.min, fmt.max))
    spread = draw(st.sampled_from([1, 1 << cfg.score_frac, 1 << (cfg.score_frac + 3), fmt.max]))
    scores = draw(st.lists(st.integers(-spread, spread), min_size=n, max_size=n))
    scores = [min(max(base + d, fmt.min), fmt.max) for d in scores]
    mask = draw(st.one_of(st.none(), st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    return {"scores": scores, "mask": mask}


@st.composite
def _bspn_inputs(draw: st.DrawFn, cfg: Any) -> dict[str, JSON]:
    c = cfg.channels
    fmt, bfmt = cfg.in_format, cfg.bias_format
    top = draw(st.sampled_from([8, 1 << (cfg.in_frac + 2), fmt.max]))
    x = draw(_vector(_ints(max(fmt.min, -top), min(fmt.max, top)), c))
    return {
        "x": x,
        "weight_sign": draw(_vector(st.integers(-1, 1), c)),
        "weight_exp": draw(_vector(st.integers(cfg.weight_exp_min, cfg.weight_exp_max), c)),
        "bias": draw(st.one_of(st.just([0] * c), _vector(_ints(bfmt.min, bfmt.max), c))),
    }


@st.composite
def _quantize_inputs(draw: st.DrawFn, cfg: Any) -> dict[str, JSON]:
    fmt = cfg.in_format
    n = draw(st.integers(1, 6))
    bmax = (1 << (cfg.bias_width - 1)) - 1
    return {
        "x": draw(st.lists(_ints(fmt.min, fmt.max), min_size=n, max_size=n)),
        "multiplier": draw(_ints(1, (1 << cfg.multiplier_bits) - 1)),
        "shift": draw(st.one_of(st.integers(0, 20), st.integers(0, 62))),
        "bias": draw(st.one_of(st.just(0), _ints(-bmax - 1, bmax))),
    }


@st.composite
def _if_inputs(draw: st.DrawFn, cfg: Any) -> dict[str, JSON]:
    return {"count": draw(st.integers(0, cfg.count_max))}


@st.composite
def _linear_inputs(draw: st.DrawFn, cfg: Any) -> dict[str, JSON]:
    n = cfg.in_features
    cmax = (1 << cfg.bits) - 1
    rows = [draw(_vector(st.sampled_from([-1, 1]), n)) for _ in range(cfg.out_features)]
    return {"counts": draw(_vector(st.integers(0, cmax), n)),
            "signs": [s for row in rows for s in row]}


_STRATEGIES = {
    "ptsoftmax": _ptsoftmax_inputs, "bspn": _bspn_inputs, "quantize": _quantize_inputs,
    "if_encode": _if_inputs, "binary_linear": _linear_inputs,
}


def input_strategy(op: str, cfg: object) -> st.SearchStrategy[dict[str, JSON]]:
    """Valid inputs of ``op`` for the configuration dataclass ``cfg``."""
    strategy: st.SearchStrategy[dict[str, JSON]] = _STRATEGIES[op](cfg)
    return strategy


CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "ptsoftmax": ("ptsoftmax",),
    "bspn": ("bspn",),
    "quantize": ("quant_signed", "quant_unsigned"),
    "if_encode": ("spikes",),
    "binary_linear": ("linear_signed", "linear_unsigned"),
}
"""Operator -> the fields of :class:`reference.presets.OperatorPreset` configuring it."""

SEARCH_OUT_FEATURES = 2
"""Linear layers are searched with at most this many outputs (inputs stay small)."""


def preset_config(preset_name: str, key: str) -> dict[str, JSON]:
    """The configuration ``key`` (see :data:`CONFIG_KEYS`) of a preset, as JSON.

    Linear layers are cut to :data:`SEARCH_OUT_FEATURES` outputs.
    """
    from reference.presets import get_preset

    d = config_to_dict(getattr(get_preset(preset_name), key))
    if key.startswith("linear_"):
        d["out_features"] = min(d["out_features"], SEARCH_OUT_FEATURES)
    return d


def find_witness(
    mutant: Mutant,
    presets: Iterable[str] | None = None,
    max_examples: int | None = None,
) -> dict[str, JSON] | None:
    """A shrunk input on which ``mutant`` differs from the reference, or None.

    Searches (derandomized Hypothesis, shrinking on) each preset's
    configurations of the mutant's operator in turn; returns
    ``{"preset", "config_key", "op", "config", "inputs"}``.  A model-level
    mutant is searched by :func:`conformance.mutants.model_variants.find_witness` over
    recipes on the model presets (default ``tiny``, ``tiny-odd``; 300 examples)
    and the answer also holds the ``recipe``; its ``config_key`` is the operator.
    """
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample

    if isinstance(mutant.knobs, mv.ModelKnobs):
        w = mv.find_witness(mutant.knobs, mutant.affects(),
                            tuple(presets) if presets is not None else ("tiny", "tiny-odd"),
                            max_examples or 300)
        return None if w is None else {**w, "config_key": w["op"]}
    presets = ("tiny", "tiny-b2", "sorbet") if presets is None else presets
    max_examples = max_examples or 2000

    spec = get_op(mutant.op)
    for preset in presets:
        for key in CONFIG_KEYS[mutant.op]:
            cfg_dict = preset_config(preset, key)
            cfg = config_from_dict(spec, cfg_dict, mutant.op)

            def kills(inp: dict[str, JSON], c: dict[str, JSON] = cfg_dict) -> bool:
                return differs(mutant, mutant.op, c, inp)

            try:
                inputs = find(
                    input_strategy(mutant.op, cfg),
                    kills,
                    settings=settings(
                        max_examples=max_examples, derandomize=True, database=None,
                        suppress_health_check=list(HealthCheck),
                    ),
                )
            except NoSuchExample:
                continue
            return {"preset": preset, "config_key": key, "op": mutant.op, "config": cfg_dict,
                    "inputs": inputs}
    return None


def witness_json(w: Mapping[str, JSON]) -> str:
    """One-line JSON of a witness (a request a port or the generator can use)."""
    return json.dumps(w, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------- documentation

DOC_INTRO = """\
# Mutants: the bugs the vectors must catch

A conformance suite is only as good as the bugs it catches.  This catalog lists
plausible hardware and firmware bugs in Sorbet's operators, each written as a
backend (spec/11-backend-protocol.md) that is the reference except for one bug.
The committed vectors must tell every one of them apart from the reference:

```
sorbet-ref mutants            # kill table: every mutant against vectors/
sorbet-ref mutants --search   # also search an input that kills each survivor
```

`sorbet-ref mutants` exits non-zero if any mutant survives, and
`tests/test_mutants.py` fails naming the survivor and an input that kills it.

How a mutant is built (`conformance/mutants/catalog.py`, `conformance/mutants/op_variants.py`):

- Each operator is implemented a second time, independently of `reference/`, as a
  *variant* whose knobs select a bug.  With every knob at its default the variant
  equals the reference on every output, normative and profile (a Hypothesis test
  checks it on the presets `tiny`, `tiny-b2` and `sorbet`).
- A mutant first runs the reference: where the reference rejects an input, the
  mutant rejects it with the same class.  So a mutant is killed by its arithmetic,
  never by what it accepts or rejects.
- A mutant returns the normative outputs only, so a kill never rests on an
  optional profile output.  Operators other than the mutant's are computed
  exactly.
- Each mutant has a recorded witness, an input found by a shrinking Hypothesis
  search on which it differs from the reference (`tests/test_mutants.py`).

Model-level mutants (`conformance/mutants/model_variants.py`) are integration bugs of a
port: each operator is right, the wiring between them is not.  Their variant
composes the reference's own operator functions (`reference.quantizer.requantize`,
`reference.binary_linear.linear_count`, `reference.ptsoftmax.ptsoftmax`,
`reference.bspn.bspn`) into the blocks of spec/06 and spec/08 with knobs; with
every knob at its default it equals `reference.layers` and `reference.model` on
every output, trace included (Hypothesis on the presets `tiny` and `tiny-odd`).
A model-level mutant computes wrongly every operator that runs its buggy step
(the operator column lists them), and every vector of those operators counts
in its kill table row.  Its witness is a recipe
(`conformance.mutants.model_variants.recipe_inputs`: drawn parameters, sequence, mask,
overrides) on a tiny preset.

This file is generated from the catalog (`sorbet-ref mutants --doc > docs/mutants.md`);
a test fails if the two drift apart.
"""


DOC_OUTSIDE = """\
## Outside the operators' interfaces

Some bugs named in the design cannot live in an operator of `conformance/operators/registry.py`
because the value they corrupt is an input of that operator:

- BSPN's per-channel weight arrives as a sign and an exponent (`weight_sign`,
  `weight_exp`), already a signed power of two; rounding the float weight to it
  (log domain, not linear) is the checkpoint converter's job, tested there.
- The quantizer's multiplier, shift and bias are likewise inputs; how a float step
  size becomes them is the converter's rule.
"""


def render_doc() -> str:
    """docs/mutants.md: the catalog and the bug classes, generated from :data:`CATALOG`."""
    lines = [DOC_INTRO, "## Catalog", ""]
    ops = {op for m in CATALOG for op in m.affects()}
    n_model = sum(1 for m in CATALOG if m.model_level)
    lines.append(f"{len(CATALOG)} mutants over {len(ops)} operators "
                 f"({len(CATALOG) - n_model} operator-level, {n_model} model-level).")
    lines.append("")
    lines.append("| id | operator | bug class | description | knobs |")
    lines.append("| --- | --- | --- | --- | --- |")
    for m in CATALOG:
        desc = m.description.replace("|", "\\|")
        op_text = ", ".join(f"`{op}`" for op in m.affects())
        lines.append(f"| `{m.id}` | {op_text} | {m.bug_class} | {desc} | `{m.knob_text()}` |")
    lines += ["", "## Bug classes", "", "| class | mutants | what goes wrong |",
              "| --- | --- | --- |"]
    for cls, text in BUG_CLASSES.items():
        n = sum(1 for m in CATALOG if m.bug_class == cls)
        lines.append(f"| {cls} | {n} | {text} |")
    lines += ["", DOC_OUTSIDE]
    return "\n".join(lines)
