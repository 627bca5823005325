"""The closed forms of ``bspn.general_widths`` agree with ``reference.bspn.BSPNConfig``.

The obligation (conformance/proofs/ob_bspn.py) proves the largest widths over every
valid configuration from closed forms of the derived quantities; this test checks
those forms against the reference's own properties on the corners of every range
(spec/03-bspn.md, "Widths over every valid configuration").
"""

from __future__ import annotations

import itertools

import z3

from conformance.proofs.ob_bspn import GENERAL_BOUNDS, general_terms
from reference.bspn import BSPNConfig


def test_closed_forms_match_the_reference() -> None:
    _prem, t = general_terms()
    checked = 0
    for iw, f, e, wmin, wmax, bw, bf in itertools.product(
            (2, 17, 32), (0, 9, 31), (0, 17, 40), (-32, 0, 32), (-32, 5, 32), (2, 32), (0, 31)):
        if wmax < wmin:
            continue
        cfg = BSPNConfig(channels=65536, group_size=65536, in_width=iw, in_frac=f, eps_exp=e,
                         weight_exp_min=wmin, weight_exp_max=wmax, bias_width=bw, bias_frac=bf,
                         out_width=16, out_frac=8)
        subst = [(t[k], z3.IntVal(v)) for k, v in (
            ("in_width", iw), ("in_frac", f), ("eps_exp", e), ("wexp_min", wmin),
            ("wexp_max", wmax), ("bias_width", bw), ("bias_frac", bf))]

        def ev(name: str, subst: list[tuple[z3.ArithRef, z3.ArithRef]] = subst) -> int:
            return int(z3.simplify(z3.substitute(t[name], *subst)).as_long())

        assert ev("j_max") == cfg.j_max
        assert ev("a_width") == cfg.a_width
        assert ev("P") == cfg.exact_frac
        assert ev("shift_max") == cfg.shift_max
        assert ev("n_width") == cfg.n_width
        bound = (cfg.group_size << (cfg.exact_frac + wmax)) + (
            1 << (bw - 1 + cfg.exact_frac - bf))
        assert ev("n_value_width") == (bound - 1).bit_length() + 1
        assert all(ev(k) <= v for k, v in GENERAL_BOUNDS.items())
        checked += 1
    assert checked > 600
