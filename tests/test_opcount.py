"""Operation counts and the energy estimate (reference/opcount.py, spec/08-model.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conformance.model.draws import draw_h0, draw_params
from reference import model, opcount
from reference.model_config import ModelParams
from reference.model_presets import MICRO, SORBET_BASE, TINY

# A hand-made trace of the ``micro`` preset: n = 2 tokens, hidden 2, one head (D = 2),
# ffn 3, T = 3 steps.  Only the spike counts enter the counts.
TRACE: dict[str, Any] = {
    "layer.0.cin_q": [[1, 2], [0, 3]],            # sum 6
    "layer.0.cin_k": [[0, 0], [1, 1]],            # sum 2
    "layer.0.cin_v": [[3, 3], [3, 3]],            # sum 12
    "layer.0.c_q": [[2, 1], [1, 1]],              # sum 5
    "layer.0.c_prob": [[[3, 0], [1, 2]]],         # sum 6
    "layer.0.cin_o": [[1, 1], [2, 2]],            # sum 6
    "layer.0.cin_ffn1": [[0, 1], [1, 0]],         # sum 2
    "layer.0.cin_ffn2": [[1, 0, 2], [0, 0, 3]],   # sum 6
    "pooler.cin": [2, 1],                         # sum 3
}


def test_counts_of_a_hand_checked_trace() -> None:
    c = opcount.op_counts(MICRO, TRACE)
    layer = c.per_layer[0]
    assert c.seq == 2
    # spikes into Q, K, V, O (fan-out 2), ffn1 (fan-out 3), ffn2 (fan-out 2); query spikes
    # against n = 2 keys; probability spikes against D = 2 values.
    assert layer.accumulates == (6 + 2 + 12 + 6) * 2 + 2 * 3 + 6 * 2 + 5 * 2 + 6 * 2 == 92
    assert layer.spikes == 6 + 2 + 12 + 6 + 2 + 6 + 5 + 6 == 45
    # requantization biases: Q, K, V and O 2*(2+2) each (inputs and outputs), ffn1 and ffn2
    # 2*(2+3); key/value offsets 2nH = 8, key sums n(H - heads) = 2, query corrections 4,
    # PTsoftmax differences 4 and partition sums 2, residuals 8; BSPN 2nH = 8 twice.
    assert layer.adds == 3 * 8 + 8 + 10 + 10 + 8 + 2 + 4 + 4 + 2 + 8 + 16 == 96
    # one multiplier per requantized value: 4 * 2*(2+2) + 2*(2+3) * 2, score_mult 4, probs 4
    assert layer.multiplies == 32 + 20 + 4 + 4 == 60
    # requant shifts 52, query-offset scaling 2, PTsoftmax 3 * 4, prob requant 4,
    # BSPN n*(groups + H) = 6 twice
    assert layer.shifts == 52 + 2 + 12 + 4 + 12 == 82
    # IF tests: (4 * 2*2 + 2*2 + 2*3) * T for the linears, (nH + heads n^2) * T for c_q, c_prob;
    # clamps 2 * 52 + 2 * 4 (probs) + 2 * 2 * nH (residuals); PTsoftmax max 2, d <= F 4,
    # nearest power 2; BSPN n * (groups * bit_length(j_max = 14) + 3H) twice.
    assert MICRO.bspn.j_max == 14
    assert layer.comparisons == (26 * 3 + 8 * 3 + 104 + 8 + 16 + 2 + 4 + 2
                                 + 2 * 2 * (4 + 6)) == 278
    head = c.head
    assert (head.accumulates, head.spikes, head.adds, head.multiplies, head.shifts,
            head.comparisons) == (3 * 2, 3, 4 + 1, 4 + 2, 4, 6 + 8)
    assert c.total == layer + head
    assert c.total.accumulates == 98


def test_power_of_two_multipliers_count_as_shifts() -> None:
    params = draw_params(MICRO, 1)

    def pow2(p: ModelParams) -> ModelParams:
        lay = p.layers[0]
        lins = {n: replace(lin, in_mult=1, out_mult=4) for n, lin in lay.linears().items()}
        lay = replace(lay, **lins, score_mult=2, prob_mult=8)
        pool = replace(p.head.pooler, in_mult=1, out_mult=2)
        return ModelParams((lay,), replace(p.head, pooler=pool))

    plain = opcount.op_counts(MICRO, TRACE)
    shifted = opcount.op_counts(MICRO, TRACE, pow2(params))
    moved = plain.total.multiplies - shifted.total.multiplies
    assert moved == 60 + 4  # everything but the classifier's 2 products
    assert shifted.total.multiplies == 2
    assert shifted.total.shifts == plain.total.shifts + moved


def test_bert_macs_and_energy() -> None:
    # BERT-base at 128 tokens: 12 * (4*128*768^2 + 2*128^2*768 + 2*128*768*3072) + 768^2 + 2*768
    assert opcount.bert_macs(SORBET_BASE, 128) == 12 * (301989888 + 25165824 + 603979776) \
        + 589824 + 1536 == 11174217216
    c = opcount.op_counts(MICRO, TRACE)
    e = opcount.energy_report(MICRO, c)
    macs = opcount.bert_macs(MICRO, 2)
    assert macs == 4 * 2 * 4 + 2 * 4 * 2 + 2 * 2 * 2 * 3 + 4 + 2 == 78
    assert e.bert_pj == 4.6 * 78
    assert abs(e.sorbet_pj - (0.9 * (98 + 101) + 4.6 * 66)) < 1e-9
    assert abs(e.ratio - e.bert_pj / e.sorbet_pj) < 1e-12
    assert e.paper_ratio == 27.16
    text = opcount.format_counts(MICRO, c)
    assert "27.16" in text and "total" in text


def test_counts_from_a_real_trace() -> None:
    params = draw_params(TINY, 4)
    out = model.forward(draw_h0(TINY, 5, 5), [True] * 5, params, TINY, trace=True)
    c = opcount.op_counts(TINY, out.trace, params)
    assert c.seq == 5 and len(c.per_layer) == TINY.layers
    spikes = sum(sum(sum(r) for r in out.trace[f"layer.{i}.{k}"])
                 for i in range(TINY.layers)
                 for k in ("cin_q", "cin_k", "cin_v", "cin_o", "cin_ffn1", "cin_ffn2", "c_q"))
    spikes += sum(sum(sum(r) for r in hd) for i in range(TINY.layers)
                  for hd in out.trace[f"layer.{i}.c_prob"])
    assert c.total.spikes == spikes + sum(out.trace["pooler.cin"])
    print(opcount.format_counts(TINY, c))
