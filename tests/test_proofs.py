"""Proof obligations: the Z3 algebra agrees with the reference, broken code and weakened
bounds are caught, witnesses are valid operator inputs, `sorbet-ref prove` passes."""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import z3

from conformance.cli import main as cli_main
from conformance.operators import run_reference
from conformance.proofs import boundary_inputs, load_regressions
from conformance.proofs.core import (
    Bound,
    Built,
    Obligation,
    Part,
    Witness,
    check_part,
    discharge,
    generalize,
    in_range,
)
from conformance.proofs.impl import DEFAULT
from conformance.proofs.pool import ProofWorkerError, discharge_all
from conformance.proofs.registry import NAMES, get
from conformance.proofs.runner import run
from conformance.proofs.worker import result_from_json, result_to_json
from conformance.proofs.z3algebra import Z3Algebra
from reference import arith, binary_linear, bspn, ptsoftmax, quantizer, spikes
from reference.algebra import PY
from reference.arith import Rounding
from reference.presets import get_preset

THEOREMS = [
    "arith.floor_log2", "arith.ceil_log2", "arith.nearest_pow2", "arith.log_nearest_pow2",
    "arith.shift_round.floor", "arith.shift_round.ceil", "arith.shift_round.trunc",
    "arith.shift_round.half_up", "arith.shift_round.half_even", "arith.clamp",
    "ptsm.partition_ratio", "ptsm.sum_bounds", "ptsm.ratio_rounded", "ptsm.ratio_unrounded",
    "ptsm.acc_width", "bspn.divisor_range", "bspn.divisor_exact", "bspn.log_round",
    "bspn.exact_width", "quant.rounding", "quant.no_overflow", "if.count", "if.membrane",
    "if.spike_times", "lin.time_eq_count", "lin.acc_width", "bspn.output_range",
    "quant.multiplier_error", "bspn.general_widths", "quant.context_offset",
]

TINY = get_preset("tiny")


def test_theorem_names_are_the_stable_list() -> None:
    assert sorted(NAMES) == sorted(THEOREMS)
    assert len(set(NAMES)) == len(NAMES)


# -- differential: the same functions on Z3 constants and on Python ints ---------------


W = 96
"""Wide enough that no intermediate of these checks wraps."""


def zval(t: Any) -> int | bool:
    v = z3.simplify(t)
    if z3.is_bv_value(v):
        return int(v.as_signed_long())
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    raise AssertionError(f"not a constant: {v}")


def zc(n: int) -> Any:
    return z3.BitVecVal(n, W)


def test_algebra_ops_agree_with_python() -> None:
    rng = random.Random(7)
    za = Z3Algebra(W)
    for _ in range(300):
        a, b = rng.randint(-(1 << 40), 1 << 40), rng.randint(-(1 << 40), 1 << 40)
        k = rng.randint(0, 20)
        i = rng.randint(0, 60)
        assert zval(za.add(zc(a), zc(b))) == PY.add(a, b)
        assert zval(za.sub(zc(a), zc(b))) == PY.sub(a, b)
        assert zval(za.mul_const(zc(a), k - 7)) == PY.mul_const(a, k - 7)
        assert zval(za.shl(zc(a), k)) == PY.shl(a, k)
        assert zval(za.shr(zc(a), k)) == PY.shr(a, k)
        assert zval(za.lt(zc(a), zc(b))) == PY.lt(a, b)
        assert zval(za.le(zc(a), zc(a))) == PY.le(a, a)
        assert zval(za.eq(zc(a), zc(b))) == PY.eq(a, b)
        assert zval(za.bit(zc(a), i)) == PY.bit(a, i)
        c = a < b
        assert zval(za.select(z3.BoolVal(c), zc(a), zc(b))) == PY.select(c, a, b)
        assert zval(za.and_(z3.BoolVal(c), za.true())) == PY.and_(c, PY.true())
        assert zval(za.or_(z3.BoolVal(c), za.not_(za.true()))) == PY.or_(c, PY.not_(True))


def test_overflow_is_recorded() -> None:
    za = Z3Algebra(8)
    za.add(za.const(100), za.const(100))
    assert zval(z3.And(*za.no_overflow)) is False
    zb = Z3Algebra(8)
    zb.add(zb.const(100), zb.const(27))
    assert zval(z3.And(*zb.no_overflow)) is True
    with pytest.raises(ValueError):
        zb.const(128)


def test_primitives_agree_with_python() -> None:
    rng = random.Random(11)
    za = Z3Algebra(W)
    for _ in range(60):
        w = rng.randint(2, 40)
        x = rng.randint(1, (1 << w) - 1)
        for f in (arith.floor_log2, arith.ceil_log2, arith.nearest_pow2_exp,
                  arith.log_nearest_pow2_exp):
            assert zval(f(za, zc(x), w)) == f(PY, x, w), (f.__name__, x, w)
        v = rng.randint(-(1 << 40), 1 << 40)
        s = rng.randint(0, 45)
        for mode in Rounding:
            assert zval(arith.shift_round(za, zc(v), s, mode)) == arith.shift_round(PY, v, s, mode)
        lo = rng.randint(-20, 5)
        hi = lo + rng.randint(0, 30)
        y = rng.randint(-40, 40)
        assert zval(arith.clamp(za, zc(y), lo, hi)) == arith.clamp(PY, y, lo, hi)
    # log_nearest at a fixed width equals the reference's use at the value's bit length
    for _ in range(100):
        x = rng.randint(1, 1 << 88)
        assert arith.log_nearest_pow2_exp(PY, x, 89) == arith.log_nearest_pow2_exp(
            PY, x, x.bit_length())


@pytest.mark.parametrize("name", ["tiny", "tiny-b2", "sorbet"])
def test_operator_functions_agree_with_python(name: str) -> None:
    pre = get_preset(name)
    rng = random.Random(name)
    za = Z3Algebra(W)
    cfg = pre.ptsoftmax
    for _ in range(40):
        x = rng.randint(cfg.score_format.min, cfg.score_format.max)
        assert zval(ptsoftmax.ceil_score(za, zc(x), cfg.score_frac)) == ptsoftmax.ceil_score(
            PY, x, cfg.score_frac)
        d = rng.randint(0, cfg.partition_frac + 3)
        e = ptsoftmax.term(PY, d, cfg.partition_frac)
        assert zval(ptsoftmax.term(za, zc(d), cfg.partition_frac)) == e
        z = rng.randint(1 << cfg.partition_frac, cfg.max_len << cfg.partition_frac)
        k = ptsoftmax.partition_exp(PY, z, cfg)
        assert zval(ptsoftmax.partition_exp(za, zc(z), cfg)) == k
        assert zval(ptsoftmax.output(za, zc(e), zc(k), cfg)) == ptsoftmax.output(PY, e, k, cfg)
        bc = pre.bspn
        sm = rng.randint(0, bc.group_size << (bc.in_width - 1))
        assert zval(bspn.divisor_j(za, zc(sm), bc)) == bspn.divisor_j(PY, sm, bc)
        qc = pre.quant_signed
        xq = rng.randint(qc.in_format.min, qc.in_format.max)
        m, sh, b = rng.randint(1, 300), rng.randint(0, 20), rng.randint(-1000, 1000)
        assert zval(quantizer.requantize(za, zc(xq), m, b, sh, -8, 7)) == quantizer.requantize(
            PY, xq, m, b, sh, -8, 7)
        sc = pre.spikes
        c = rng.randint(0, sc.count_max)
        zs, zt = spikes.if_run(za, zc(c), sc.steps)
        ps, pt = spikes.if_run(PY, c, sc.steps)
        assert [zval(v) for v in zs] == ps and [zval(v) for v in zt] == pt
        lc = pre.linear_signed
        cs = [rng.randint(0, sc.count_max) for _ in range(5)]
        sg = [rng.random() < 0.5 for _ in range(5)]
        zsg = [z3.BoolVal(v) for v in sg]
        assert zval(binary_linear.dot_count(za, [zc(v) for v in cs], zsg, lc.offset)) == \
            binary_linear.dot_count(PY, cs, sg, lc.offset)
        zf, zp = binary_linear.dot_time(za, [zc(v) for v in cs], zsg, lc.offset, lc.steps)
        pf, pp = binary_linear.dot_time(PY, cs, sg, lc.offset, lc.steps)
        assert zval(zf) == pf and [zval(v) for v in zp] == pp


# -- negative tests: weakened bounds and broken implementations ---------------------


def _status(name: str, pre_name: str = "tiny", **impl: Any) -> str:
    res = discharge(get(name), get_preset(pre_name), dataclasses.replace(DEFAULT, **impl))
    return res.status


def nearest_ties_down(a: Any, x: Any, width: int) -> Any:
    """Nearest power of two with ties going down (a plausible bug)."""
    r = a.const(0)
    for i in range(width):
        up = a.le(a.const((3 << i >> 1) + 1), x) if i > 0 else a.not_(a.true())
        r = a.select(a.bit(x, i), a.select(up, a.const(i + 1), a.const(i)), r)
    return r


def if_run_strict(a: Any, c: Any, steps: int) -> tuple[list[Any], list[Any]]:
    """IF neuron comparing with > instead of >= (snnTorch's compare)."""
    v = a.const(0)
    theta = a.const(steps)
    fired, trace = [], []
    for _ in range(steps):
        v = a.add(v, c)
        fire = a.lt(theta, v)
        v = a.select(fire, a.sub(v, theta), v)
        fired.append(fire)
        trace.append(v)
    return fired, trace


def test_weakened_partition_bound_is_a_counterexample() -> None:
    assert _status("ptsm.partition_ratio", partition_ratio=(Fraction(3, 4), Fraction(7, 5))) \
        == "counterexample"
    assert _status("ptsm.partition_ratio", "sorbet",
                   partition_ratio=(Fraction(3, 4), Fraction(7, 5))) == "counterexample"
    assert _status("ptsm.partition_ratio", partition_ratio=(Fraction(4, 5), Fraction(3, 2))) \
        == "counterexample"


def test_weakened_log_factor_is_a_counterexample() -> None:
    assert _status("bspn.log_round", log_factor_sq=1) == "counterexample"


def test_ties_down_is_a_counterexample() -> None:
    assert _status("arith.nearest_pow2", nearest_pow2_exp=nearest_ties_down) == "counterexample"
    assert _status("ptsm.partition_ratio", partition_exp=lambda a, z, cfg: nearest_ties_down(
        a, z, cfg.partition_width)) == "counterexample"


def test_floor_for_ceil_is_a_counterexample() -> None:
    def floor_score(a: Any, x: Any, sf: int) -> Any:
        return arith.shift_round(a, x, sf, Rounding.FLOOR)

    assert _status("ptsm.ratio_unrounded", ceil_score=floor_score) == "counterexample"

    def ceil_log2_as_floor(a: Any, x: Any, w: int) -> Any:
        return arith.floor_log2(a, x, w)

    assert _status("arith.ceil_log2", ceil_log2=ceil_log2_as_floor) == "counterexample"


def test_half_up_for_half_even_is_a_counterexample() -> None:
    half_up = functools.partial(quantizer.requantize, rounding=Rounding.HALF_UP)
    assert _status("quant.rounding", requantize=half_up) == "counterexample"

    def shift_half_up(a: Any, x: Any, s: int, mode: Rounding) -> Any:
        return arith.shift_round(a, x, s, Rounding.HALF_UP)

    assert _status("arith.shift_round.half_even", shift_round=shift_half_up) == "counterexample"


def test_strict_compare_in_if_is_a_counterexample() -> None:
    assert _status("if.count", if_run=if_run_strict) == "counterexample"
    assert _status("if.spike_times", if_run=if_run_strict) == "counterexample"


def test_broken_time_level_is_a_counterexample() -> None:
    def dot_time_no_correction(a: Any, counts: Any, signs: Any, offset: int,
                               steps: int) -> tuple[Any, list[Any]]:
        final, partial = binary_linear.dot_time(a, counts, signs, 0, steps)
        return final, partial

    def dot_time_skips_last_step(a: Any, counts: Any, signs: Any, offset: int,
                                 steps: int) -> tuple[Any, list[Any]]:
        _final, partial = binary_linear.dot_time(a, counts, signs, offset, steps)
        last = a.const(0)
        for s in signs:
            last = a.add(last, a.select(s, a.const(offset), a.const(-offset)))
        return a.sub(partial[-2], last), partial

    assert _status("lin.time_eq_count", dot_time=dot_time_no_correction) == "counterexample"
    assert _status("lin.time_eq_count", dot_time=dot_time_skips_last_step) == "counterexample"


def test_wrong_threshold_and_dropped_eps_are_counterexamples() -> None:
    def log_nearest_off_by_one(a: Any, x: Any, width: int) -> Any:
        r = a.const(0)
        for i in range(width):
            up = a.le(a.const(arith.sqrt2_threshold(i) + 1), x)
            r = a.select(a.bit(x, i), a.select(up, a.const(i + 1), a.const(i)), r)
        return r

    assert _status("arith.log_nearest_pow2", log_nearest_pow2_exp=log_nearest_off_by_one) \
        == "counterexample"
    assert _status("bspn.log_round", log_nearest_pow2_exp=log_nearest_off_by_one) \
        == "counterexample"

    def divisor_no_eps(a: Any, s: Any, cfg: bspn.BSPNConfig) -> Any:
        return bspn.divisor_j(a, s, dataclasses.replace(cfg, eps_exp=0))

    assert _status("bspn.divisor_range", divisor_j=divisor_no_eps) == "counterexample"


def test_vacuous_premises_and_missing_witness_fail() -> None:
    x = z3.BitVec("x", 8)

    def build(_pre: Any, _impl: Any) -> Built:
        return Built("x:s8", [Part("bv8", [x > 5, x < 3], x == 4, {"x": x})],
                     [Witness("impossible", [x > 0], x < 0, {"x": x})])

    res = discharge(Obligation("t.vacuous", "s", "f", "r", build), TINY, DEFAULT)
    assert res.parts[0].status == "vacuous" and not res.ok

    def build2(_pre: Any, _impl: Any) -> Built:
        return Built("x:s8", [Part("bv8", [x > 5], x > 4, {"x": x})],
                     [Witness("impossible", [x > 5], x < 0, {"x": x})])

    res2 = discharge(Obligation("t.nowitness", "s", "f", "r", build2), TINY, DEFAULT)
    assert res2.status == "no-witness" and not res2.ok


def test_bounds_change_the_time_never_the_answer() -> None:
    x = z3.BitVec("x", 16)
    sq = x * x
    prem = [x >= -10, x <= 10]

    def part(claim: Any, lo: int, hi: int) -> Part:
        return Part("bv16", prem, claim, {"x": x}, bounds=[Bound(sq, lo, hi)])

    exact = part(sq <= 100, 0, 100)
    assert generalize(exact) is not None and check_part(exact).status == "proved"
    # A loose bound: the generalized query has a model (v = 500) that is no input;
    # the conjunct itself is then decided and proved.
    loose = part(sq <= 100, 0, 1000)
    assert generalize(loose) is not None and check_part(loose).status == "proved"
    # A false lemma generalizes nothing: the counterexample comes from the claim.
    false = part(sq <= 50, 0, 50)
    assert generalize(false) is None
    res = check_part(false)
    assert res.status == "counterexample" and res.counterexample is not None
    assert int(res.counterexample["x"]) ** 2 > 50


def test_quant_no_overflow_generalizes_the_product_and_still_catches_overflow() -> None:
    built = get("quant.no_overflow").build(TINY, DEFAULT)
    assert all(p.bounds and generalize(p) is not None for p in built.parts)

    def wide_bias(a: Any, x: Any, m: Any, b: Any, s: int, lo: int, hi: int) -> Any:
        return quantizer.requantize(a, x, m, a.shl(b, 5), s, lo, hi)

    assert _status("quant.no_overflow", requantize=wide_bias) == "counterexample"


def test_context_offset_catches_a_wider_bias_and_its_limit_is_exact() -> None:
    built = get("quant.context_offset").build(TINY, DEFAULT)
    assert [p.label.split(":")[0] for p in built.parts] == ["real", "bv21"]
    assert all(generalize(p) is not None for p in built.parts if p.bounds)

    def wide_bias(a: Any, x: Any, m: Any, b: Any, s: int, lo: int, hi: int) -> Any:
        return quantizer.requantize(a, x, m, a.shl(b, 1), s, lo, hi)

    assert _status("quant.context_offset", requantize=wide_bias) == "counterexample"
    # One more than the limit overflows: the bit-vector part fails with |E| <= limit + 1.
    qc = TINY.quant_signed
    fits = built.parts[1]
    e = fits.show["E"]
    looser = dataclasses.replace(fits, premises=[*fits.premises[:3],
                                                 in_range(e, -qc.extra_bias_limit - 1,
                                                          qc.extra_bias_limit + 1)])
    assert check_part(looser).status == "counterexample"


def test_counterexamples_become_regression_inputs(tmp_path: Path) -> None:
    impl = dataclasses.replace(DEFAULT, nearest_pow2_exp=nearest_ties_down,
                               if_run=if_run_strict, ceil_score=lambda a, x, sf:
                               arith.shift_round(a, x, sf, Rounding.FLOOR))
    results, _ = run("tiny", ["arith.nearest_pow2", "if.count", "ptsm.ratio_unrounded"],
                     impl=impl, regress_dir=tmp_path)
    assert all(not r.ok for r in results)
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert files == ["arith.nearest_pow2.json", "if.count.json", "ptsm.ratio_unrounded.json"]
    head = json.loads((tmp_path / "if.count.json").read_text())
    assert head["theorem"] == "if.count" and head["counterexamples"]
    cases = load_regressions(tmp_path)
    assert cases and cases == load_regressions(tmp_path)
    for c in cases:
        assert set(c) == {"op", "config", "inputs", "comment", "flags"}
        assert "outputs" in run_reference(c["op"], c["config"], c["inputs"]), c


def test_committed_regressions_load() -> None:
    for c in load_regressions():
        assert "outputs" in run_reference(c["op"], c["config"], c["inputs"]), c


@pytest.mark.parametrize("name", ["tiny", "tiny-b2", "sorbet"])
def test_boundary_inputs_are_valid_operator_inputs(name: str) -> None:
    cases = boundary_inputs(name)
    assert len(cases) >= 10
    ops = {c["op"] for c in cases}
    assert {"ptsoftmax", "quantize", "if_encode", "binary_linear", "bspn"} <= ops
    for c in cases:
        assert set(c) == {"op", "config", "inputs", "comment", "flags"}
        res = run_reference(c["op"], c["config"], c["inputs"])
        assert "outputs" in res, (c["comment"], res)
    assert cases == boundary_inputs(name)  # deterministic


def test_boundary_tie_row_reaches_three_quarters() -> None:
    cfg = TINY.ptsoftmax
    ties = [c for c in boundary_inputs("tiny") if c["op"] == "ptsoftmax"
            and "tie 3*2^(k-1)" in c["comment"]]
    assert ties
    res = ptsoftmax.ptsoftmax(ties[0]["inputs"]["scores"], None, cfg)
    assert res.k is not None and 4 * res.partition == 3 << res.k


def test_every_obligation_proves_on_tiny_b2() -> None:
    results, _ = run("tiny-b2")
    bad = [(r.name, r.status) for r in results if not r.ok]
    assert not bad


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny", "sorbet"])
def test_prove_cli(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{name}.json"
    code = cli_main(["prove", "--preset", name, "--json", str(out), "--no-regressions"])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["passed"] and len(data["results"]) == len(THEOREMS)
    assert all(r["witnesses"] and all(w["found"] for w in r["witnesses"])
               for r in data["results"])
    text = capsys.readouterr().out
    assert f"{len(THEOREMS)} proved, 0 failed" in text


def test_prove_cli_only_and_failure(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert cli_main(["prove", "--preset", "tiny", "--only", "if.", "--json", str(out),
                     "--no-regressions"]) == 0
    assert [r["theorem"] for r in json.loads(out.read_text())["results"]] == [
        "if.count", "if.membrane", "if.spike_times"]
    assert cli_main(["prove", "--preset", "tiny", "--only", "no.such", "--json", str(out),
                     "--no-regressions"]) == 2


def _timeless(r: Any) -> Any:
    """A result as plain data without its times (the only thing that may differ)."""
    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k != "seconds"}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    return strip(result_to_json(r))


def test_parallel_workers_give_the_serial_results_in_registry_order() -> None:
    # One worker discharges every obligation in turn: the serial run in a new process.
    serial = list(discharge_all("tiny", list(NAMES), 1))
    seen: list[str] = []
    parallel, _ = run("tiny", jobs=3, progress=lambda r: seen.append(r.name))
    assert seen == list(NAMES) == [r.name for r in parallel] == [r.name for r in serial]
    assert [_timeless(r) for r in parallel] == [_timeless(r) for r in serial]
    # This process solved other queries before: the models are the same nonetheless.
    in_process, _ = run("tiny")
    assert [_timeless(r) for r in in_process] == [_timeless(r) for r in serial]
    assert [r.status for r in serial] == ["proved"] * len(NAMES)


def test_worker_results_round_trip_and_reject_garbage() -> None:
    r = discharge(get("if.count"), TINY, DEFAULT)
    assert result_from_json(json.loads(json.dumps(result_to_json(r)))) == r
    for bad in ([], {"name": "x"}, {**result_to_json(r), "extra": 1},
                {**result_to_json(r), "parts": [{"label": "p"}]},
                {**result_to_json(r), "name": 3}):
        with pytest.raises(ValueError, match="malformed proof result"):
            result_from_json(bad)


def test_worker_failures_name_the_theorem() -> None:
    with pytest.raises(ProofWorkerError, match=r"no\.such: KeyError: .unknown theorem"):
        list(discharge_all("tiny", ["if.count", "no.such"], 2))
    died = r"(?s)if\.count: worker process exited with status 1: .*no-such-preset"
    with pytest.raises(ProofWorkerError, match=died):
        list(discharge_all("no-such-preset", ["if.count", "if.membrane"], 2))
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        run("tiny", ["if.count"], jobs=0)
    broken = dataclasses.replace(DEFAULT, log_factor_sq=1)
    with pytest.raises(ValueError, match="replaced implementation needs jobs = 1"):
        run("tiny", ["if.count"], impl=broken, jobs=2)


def test_prove_cli_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    assert cli_main(["prove", "--preset", "tiny", "--only", "if.", "--jobs", "2", "--json",
                     str(out), "--no-regressions"]) == 0
    assert [r["theorem"] for r in json.loads(out.read_text())["results"]] == [
        "if.count", "if.membrane", "if.spike_times"]
    with pytest.raises(SystemExit):
        cli_main(["prove", "--jobs", "0"])
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tiny", "tiny-b2", "sorbet"])
def test_output_encoding_agrees_with_round_output(name: str) -> None:
    cfg = get_preset(name).bspn
    rng = random.Random(name)
    za = Z3Algebra(cfg.n_width + 2)
    x = za.var("x")
    mag, _r = bspn.output_magnitude(za, x, cfg, cfg.n_width)
    top = 1 << (cfg.n_width - 1)
    edges = [arith.sqrt2_threshold(k) + d for k in range(cfg.n_width - 1) for d in (-1, 0)]
    values = [v for v in edges if 1 <= v <= top] + [rng.randint(1, top) for _ in range(200)]
    values += [rng.randint(1, 1 << rng.randint(1, cfg.n_width - 1)) for _ in range(200)]
    for v in values:
        got = zval(z3.substitute(mag, (x, z3.BitVecVal(v, za.width))))
        assert got == abs(bspn.round_output(v, cfg)) == abs(bspn.round_output(-v, cfg)), v


def test_output_range_catches_a_shifted_cut_over() -> None:
    def log_nearest_late(a: Any, x: Any, width: int) -> Any:
        r = a.const(0)
        for i in range(width):
            up = a.le(a.const(arith.sqrt2_threshold(i) + 1), x)
            r = a.select(a.bit(x, i), a.select(up, a.const(i + 1), a.const(i)), r)
        return r

    assert _status("bspn.output_range", log_nearest_pow2_exp=log_nearest_late) \
        == "counterexample"


def test_converter_multipliers_within_the_proven_error() -> None:
    from conformance.model.draws import fixed_point

    rng = random.Random(5)
    for _ in range(300):
        ratio = Fraction(rng.randint(1, 10**6), rng.randint(1, 10**6))
        mb = rng.randint(2, 20)
        m, s = fixed_point(ratio, mb)
        if m >= (1 << mb) - 1 and s == 0:
            continue  # clipped: outside the rule
        r = ratio * 2**s
        assert abs(m - r) <= Fraction(1, 2)
        assert abs(Fraction(m, 2**s) - ratio) / ratio <= Fraction(1, 2 * m - 1)
