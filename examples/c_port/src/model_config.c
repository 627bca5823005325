/*
 * The model configuration of spec/06-layers.md and spec/08-model.md, "Parameters".
 *
 * Nine fields are required (the shapes); every other field may be left out and then
 * takes its Sorbet-base value (the last column of the tables of spec/06 and spec/08).
 * Every range of those tables is checked, together with the ranges of the operators
 * the layers are built from: PTsoftmax over rows of max_seq scores (spec/02), BSPN
 * from format r to format h (spec/03; the group size divides hidden) and the spike
 * encoding (spec/04: steps >= 2^bits - 1); and the score format must hold the largest
 * score D * o^2 * (2^multiplier_bits - 1) (spec/06, "Widths").  Every defect is a
 * `config` rejection.
 */
#include <inttypes.h>
#include <string.h>

#include "layers.h"

static const char *const FIELDS[] = {
    "layers",         "hidden",          "heads",          "ffn",           "vocab",
    "max_positions",  "type_vocab",      "max_seq",        "num_labels",    "bits",
    "steps",          "h_width",         "h_frac",         "r_width",       "u_width",
    "u_frac",         "bspn_group",      "eps_exp",        "bspn_wexp_min", "bspn_wexp_max",
    "bspn_bias_width", "bspn_bias_frac", "score_width",    "score_frac",    "partition_frac",
    "prob_frac",      "multiplier_bits", "bias_width",     "cls_width",     "cls_frac",
    NULL};
static const char *const REQUIRED[] = {"layers", "hidden",     "heads",   "ffn", "vocab",
                                       "max_positions", "type_vocab", "max_seq", "num_labels",
                                       NULL};

int model_config(const jv *config, const char *op, model_cfg *m, result *res) {
    cfgreader c;
    int64_t group;
    memset(m, 0, sizeof(*m));
    if (cfg_open(&c, config, op, FIELDS, REQUIRED, res) ||
        cfg_int(&c, "layers", 1, 64, 0, &m->layers) ||
        cfg_int(&c, "hidden", 1, (int64_t)1 << 14, 0, &m->hidden) ||
        cfg_int(&c, "heads", 1, m->hidden, 0, &m->heads)) {
        return -1;
    }
    if (m->hidden % m->heads != 0) {
        return reject(res, "config", "%s: config.heads: %" PRId64 " does not divide hidden=%" PRId64,
                      op, m->heads, m->hidden);
    }
    if (cfg_int(&c, "ffn", 1, (int64_t)1 << 16, 0, &m->ffn) ||
        cfg_int(&c, "vocab", 1, (int64_t)1 << 20, 0, &m->vocab) ||
        cfg_int(&c, "max_positions", 1, (int64_t)1 << 14, 0, &m->max_positions) ||
        cfg_int(&c, "type_vocab", 1, 16, 0, &m->type_vocab) ||
        cfg_int(&c, "max_seq", 1, m->max_positions, 0, &m->max_seq) ||
        cfg_int(&c, "num_labels", 1, (int64_t)1 << 10, 0, &m->num_labels) ||
        cfg_int(&c, "h_width", 4, 32, 28, &m->h_width) ||
        cfg_int(&c, "h_frac", 0, m->h_width - 2, 20, &m->h_frac) ||
        cfg_int(&c, "r_width", m->h_width, 32, 32, &m->r_width) ||
        cfg_int(&c, "u_width", 2, 32, 28, &m->u_width) ||
        cfg_int(&c, "u_frac", 0, m->u_width - 1, 20, &m->u_frac) ||
        cfg_int(&c, "bspn_group", 0, m->hidden, 0, &m->bspn_group) ||
        cfg_int(&c, "score_width", 8, 48, 40, &m->score_width) ||
        cfg_int(&c, "multiplier_bits", 1, 24, 20, &m->multiplier_bits) ||
        cfg_int(&c, "bias_width", 2, 40, 40, &m->bias_width) ||
        cfg_int(&c, "cls_width", 2, 16, 16, &m->cls_width) ||
        cfg_int(&c, "cls_frac", 0, 15, 12, &m->cls_frac) ||
        /* PTsoftmax (spec/02): max_len = max_seq, score format s{score_width}.{score_frac} */
        cfg_int(&c, "score_frac", 0, m->score_width - 1, 16, &m->score_frac) ||
        cfg_int(&c, "partition_frac", 0, 30, 16, &m->partition_frac) ||
        cfg_int(&c, "prob_frac", 0, 30, 16, &m->prob_frac) ||
        /* BSPN (spec/03) */
        cfg_int(&c, "eps_exp", 0, 40, 17, &m->eps_exp) ||
        cfg_int(&c, "bspn_wexp_min", -32, 32, -16, &m->bspn_wexp_min) ||
        cfg_int(&c, "bspn_wexp_max", m->bspn_wexp_min, 32, 15, &m->bspn_wexp_max) ||
        cfg_int(&c, "bspn_bias_width", 2, 32, 28, &m->bspn_bias_width) ||
        cfg_int(&c, "bspn_bias_frac", 0, 31, 20, &m->bspn_bias_frac) ||
        /* spikes (spec/04) */
        cfg_int(&c, "bits", 1, 8, 4, &m->bits) ||
        cfg_int(&c, "steps", 1, 1024, 16, &m->steps)) {
        return -1;
    }
    m->head_dim = m->hidden / m->heads;
    group = m->bspn_group != 0 ? m->bspn_group : m->head_dim;
    if (m->hidden % group != 0) {
        return reject(res, "config",
                      "%s: config.bspn_group: group size %" PRId64 " does not divide hidden=%" PRId64,
                      op, group, m->hidden);
    }
    m->o = (int64_t)1 << (m->bits - 1);
    m->cmax = ((int64_t)1 << m->bits) - 1;
    if (m->steps < m->cmax) {
        return reject(res, "config",
                      "%s: config.steps: T=%" PRId64 " is below the largest count %" PRId64
                      "; the encoder fires at most once a step, so T >= 2^bits - 1",
                      op, m->steps, m->cmax);
    }
    /* D * o^2 * (2^mb - 1) <= 2^14 * 2^14 * 2^24 = 2^52: no overflow in int64_t. */
    if (m->head_dim * m->o * m->o * (((int64_t)1 << m->multiplier_bits) - 1) >
        signed_max((int)m->score_width)) {
        return reject(res, "config",
                      "%s: config.score_width: %" PRId64 " bits cannot hold the largest score "
                      "head_dim * 2^(2*(bits-1)) * (2^multiplier_bits - 1) (spec/06, \"Widths\")",
                      op, m->score_width);
    }
    m->bspn.channels = m->hidden;
    m->bspn.group_size = group;
    m->bspn.in_width = m->r_width;
    m->bspn.in_frac = m->h_frac;
    m->bspn.eps_exp = m->eps_exp;
    m->bspn.weight_exp_min = m->bspn_wexp_min;
    m->bspn.weight_exp_max = m->bspn_wexp_max;
    m->bspn.bias_width = m->bspn_bias_width;
    m->bspn.bias_frac = m->bspn_bias_frac;
    m->bspn.out_width = m->h_width;
    m->bspn.out_frac = m->h_frac;
    m->ptsm.score_frac = (int)m->score_frac;
    m->ptsm.partition_frac = (int)m->partition_frac;
    m->ptsm.out_frac = (int)m->prob_frac;
    return 0;
}
