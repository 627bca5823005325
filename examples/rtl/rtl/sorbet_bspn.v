// BSPN of one token (spec/03-bspn.md), group by group, one channel a clock in and out.
//
// Per group of G channels: S = sum |x_i|; A = S * 2^eps_exp + G * 2^in_frac;
// j = the least j >= 0 with G * 2^j >= A (a comparison with the constants G << j);
// k = j - in_frac - eps_exp (the divisor_exp profile output). Per channel:
// N_i = weight_sign_i * x_i * 2^(P + weight_exp_i + eps_exp - j) + bias_i * 2^(P - bias_frac),
// formed in N_WIDTH signed bits (theorem bspn.exact_width) by shifts and a negation;
// e = floor_log2|N| + (|N| >= t(floor_log2|N|)), r = e - P + out_frac, and the output is
// 0 (N = 0 or r < 0), sign(N) * 2^r_max (r > r_max) or sign(N) * 2^r. The thresholds
// t(b) - 1 = floor(sqrt(2) * 2^b) are SQRT2 >> (255 - b), SQRT2 = floor(sqrt(2) * 2^255)
// = isqrt(2^511); a floor of a floor is the floor, so every t(b) with b <= 255 is exact.
// No multiplier: every product is a shift by a power of two or a sign.
//
// Handshake: start (while idle) samples the lengths of x, weight_sign, weight_exp and
// bias; any of them other than CHANNELS is SHAPE and ends the call. Then CHANNELS
// elements are taken with in_valid/in_ready, channel order. After each group's G inputs
// the unit emits the group's G outputs on out_valid/out_value, then grp_valid with
// divisor_exp. An element outside its format is RANGE: the call then ends with err and
// emits nothing more. done ends every call.
`timescale 1ns/1ps
module sorbet_bspn (
    clk, rst, start, n_x, n_sign, n_exp, n_bias, busy,
    in_valid, in_ready, x_word, sign_word, exp_word, bias_word,
    out_valid, out_value, grp_valid, divisor_exp, done, err, err_class
);
    parameter integer CHANNELS = 768;
    parameter integer GROUP_SIZE = 64;
    parameter integer IN_WIDTH = 24;
    parameter integer IN_FRAC = 8;
    parameter integer EPS_EXP = 17;
    parameter integer WEIGHT_EXP_MIN = -16;
    parameter integer WEIGHT_EXP_MAX = 15;
    parameter integer BIAS_WIDTH = 16;
    parameter integer BIAS_FRAC = 8;
    parameter integer OUT_WIDTH = 16;
    parameter integer OUT_FRAC = 8;
`include "sorbet_util.vh"
    localparam G = GROUP_SIZE;
    localparam J_MAX = max2(IN_WIDTH - 1 + EPS_EXP, IN_FRAC) + 1;
    localparam P = max2(max2(BIAS_FRAC, J_MAX - WEIGHT_EXP_MIN - EPS_EXP), 0);
    localparam SHIFT_MAX = P + WEIGHT_EXP_MAX + EPS_EXP - IN_FRAC;
    // n_width: 2^(n-1) >= 2^(in_width-1+shift_max) + 2^(bias_width-1+P-bias_frac).
    localparam N_WIDTH = max2(IN_WIDTH - 1 + SHIFT_MAX, BIAS_WIDTH - 1 + P - BIAS_FRAC) + 2;
    localparam R_MAX = OUT_WIDTH - 2;
    localparam GW = max2(bitlen(G), 1);
    localparam SUMW = GW + IN_WIDTH;                   // S <= G * 2^(in_width-1)
    localparam AWID = max2(SUMW + EPS_EXP, GW + J_MAX) + 1;
    localparam JW = 8;
    localparam [GW-1:0] G_V = G;
    localparam [255:0] SQRT2 = 256'hb504f333f9de6484597d89b3754abe9f1d6f60ba893ba84ced17ac8583339915;
    localparam [1:0] ERR_RANGE = 2'd1, ERR_SHAPE = 2'd2;
    localparam signed [63:0] X_MIN = -(64'sd1 <<< (IN_WIDTH - 1));
    localparam signed [63:0] X_MAX = (64'sd1 <<< (IN_WIDTH - 1)) - 1;
    localparam signed [63:0] B_MIN = -(64'sd1 <<< (BIAS_WIDTH - 1));
    localparam signed [63:0] B_MAX = (64'sd1 <<< (BIAS_WIDTH - 1)) - 1;
    localparam signed [63:0] E_MIN = WEIGHT_EXP_MIN;
    localparam signed [63:0] E_MAX = WEIGHT_EXP_MAX;

    input  wire                    clk;
    input  wire                    rst;
    input  wire                    start;
    input  wire [31:0]             n_x;
    input  wire [31:0]             n_sign;
    input  wire [31:0]             n_exp;
    input  wire [31:0]             n_bias;
    output wire                    busy;
    input  wire                    in_valid;
    output wire                    in_ready;
    input  wire [63:0]             x_word;
    input  wire [63:0]             sign_word;
    input  wire [63:0]             exp_word;
    input  wire [63:0]             bias_word;
    output reg                     out_valid;
    output reg  signed [OUT_WIDTH-1:0] out_value;
    output reg                     grp_valid;
    output reg  signed [15:0]      divisor_exp;
    output reg                     done;
    output reg                     err;
    output reg  [1:0]              err_class;

    generate
        if (CHANNELS < 1 || CHANNELS > 65536) begin : bad_channels
            sorbet_config_error_bspn_channels_outside_1_65536 config_error ();
        end
        if (GROUP_SIZE < 1 || GROUP_SIZE > CHANNELS) begin : bad_group_size
            sorbet_config_error_bspn_group_size_outside_1_channels config_error ();
        end else if (CHANNELS % GROUP_SIZE != 0) begin : bad_group_divides
            sorbet_config_error_bspn_group_size_does_not_divide_channels config_error ();
        end
        if (IN_WIDTH < 2 || IN_WIDTH > 32) begin : bad_in_width
            sorbet_config_error_bspn_in_width_outside_2_32 config_error ();
        end
        if (IN_FRAC < 0 || IN_FRAC > 31) begin : bad_in_frac
            sorbet_config_error_bspn_in_frac_outside_0_31 config_error ();
        end
        if (EPS_EXP < 0 || EPS_EXP > 40) begin : bad_eps_exp
            sorbet_config_error_bspn_eps_exp_outside_0_40 config_error ();
        end
        if (WEIGHT_EXP_MIN < -32 || WEIGHT_EXP_MIN > 32) begin : bad_weight_exp_min
            sorbet_config_error_bspn_weight_exp_min_outside_m32_32 config_error ();
        end
        if (WEIGHT_EXP_MAX < WEIGHT_EXP_MIN || WEIGHT_EXP_MAX > 32) begin : bad_weight_exp_max
            sorbet_config_error_bspn_weight_exp_max_outside_weight_exp_min_32 config_error ();
        end
        if (BIAS_WIDTH < 2 || BIAS_WIDTH > 32) begin : bad_bias_width
            sorbet_config_error_bspn_bias_width_outside_2_32 config_error ();
        end
        if (BIAS_FRAC < 0 || BIAS_FRAC > 31) begin : bad_bias_frac
            sorbet_config_error_bspn_bias_frac_outside_0_31 config_error ();
        end
        if (OUT_WIDTH < 2 || OUT_WIDTH > 32) begin : bad_out_width
            sorbet_config_error_bspn_out_width_outside_2_32 config_error ();
        end
        if (OUT_FRAC < 0 || OUT_FRAC > OUT_WIDTH - 2) begin : bad_out_frac
            sorbet_config_error_bspn_out_frac_outside_0_out_width_minus_2 config_error ();
        end
        // The threshold table holds t(b) for b <= 255 (and shifts fit 9 bits).
        if (N_WIDTH > 255 || SHIFT_MAX > 511) begin : too_wide
            sorbet_config_error_bspn_n_width_above_255 config_error ();
        end
    endgenerate

    localparam [2:0] IDLE = 3'd0, LOAD = 3'd1, DIV = 3'd2, OUT = 3'd3, GRP = 3'd4,
                     FIN = 3'd5;
    reg [2:0]  state;
    reg [31:0] chan;                 // channels taken so far
    reg [GW-1:0] gi;                 // index inside the group
    reg        bad;
    reg [SUMW-1:0] abs_sum;
    reg [JW-1:0]   j;

    // The group buffer.
    reg signed [IN_WIDTH-1:0]   xbuf [0:G-1];
    reg signed [1:0]            sbuf [0:G-1];
    reg signed [7:0]            ebuf [0:G-1];
    reg signed [BIAS_WIDTH-1:0] bbuf [0:G-1];

    wire signed [63:0] x_s = x_word;
    wire signed [63:0] s_s = sign_word;
    wire signed [63:0] e_s = exp_word;
    wire signed [63:0] b_s = bias_word;
    wire in_ok = x_s >= X_MIN && x_s <= X_MAX
              && s_s >= -64'sd1 && s_s <= 64'sd1
              && e_s >= E_MIN && e_s <= E_MAX
              && b_s >= B_MIN && b_s <= B_MAX;
    wire signed [IN_WIDTH-1:0] x_in = x_word[IN_WIDTH-1:0];
    wire [IN_WIDTH-1:0] x_abs = x_in[IN_WIDTH-1] ? -x_in : x_in;

    // Steps 2-3: A and j.
    wire [AWID-1:0] big_a = ({{(AWID - SUMW){1'b0}}, abs_sum} << EPS_EXP)
                          + ({{(AWID - GW){1'b0}}, G_V} << IN_FRAC);
    reg  [JW-1:0] j_calc;
    integer jj;
    always @* begin
        j_calc = J_MAX;
        for (jj = J_MAX; jj >= 0; jj = jj - 1)
            if (big_a <= ({{(AWID - GW){1'b0}}, G_V} << jj)) j_calc = jj;
    end

    // Step 4: N of the buffered channel gi.
    wire signed [IN_WIDTH-1:0]   x_cur = xbuf[gi];
    wire signed [1:0]            s_cur = sbuf[gi];
    wire signed [7:0]            e_cur = ebuf[gi];
    wire signed [BIAS_WIDTH-1:0] b_cur = bbuf[gi];
    wire signed [N_WIDTH-1:0] xw = x_cur;
    wire signed [N_WIDTH-1:0] xs = (s_cur == 2'sd0) ? {N_WIDTH{1'b0}}
                                 : ((s_cur == -2'sd1) ? -xw : xw);
    wire signed [15:0] j_s = {{(16 - JW){1'b0}}, j};
    wire signed [15:0] sh = P + EPS_EXP + e_cur - j_s;
    wire signed [N_WIDTH-1:0] bw = b_cur;
    wire signed [N_WIDTH-1:0] big_n = (xs <<< sh[8:0]) + (bw <<< (P - BIAS_FRAC));

    // Step 5: round |N| to a power of two in the log domain, flush and saturate.
    wire               neg = big_n[N_WIDTH-1];
    wire [N_WIDTH-1:0] mag = neg ? -big_n : big_n;
    reg  [JW:0]        lead;
    reg  [N_WIDTH:0]   thr;
    integer bb;
    always @* begin
        lead = {(JW + 1){1'b0}};
        thr = {(N_WIDTH + 1){1'b0}};
        for (bb = 0; bb < N_WIDTH; bb = bb + 1)
            if (mag[bb]) begin
                lead = bb;
                thr = SQRT2 >> (255 - bb);
            end
    end
    wire signed [15:0] e_round = lead + ({1'b0, mag} > thr);
    wire signed [15:0] r = e_round - P + OUT_FRAC;
    wire [OUT_WIDTH-1:0] pow = (r > R_MAX) ? ({{(OUT_WIDTH - 1){1'b0}}, 1'b1} << R_MAX)
                                           : ({{(OUT_WIDTH - 1){1'b0}}, 1'b1} << r[7:0]);
    wire [OUT_WIDTH-1:0] out_mag = (mag == {N_WIDTH{1'b0}} || r < 0) ? {OUT_WIDTH{1'b0}} : pow;
    wire [OUT_WIDTH-1:0] out_cur = neg ? -out_mag : out_mag;

    assign busy = state != IDLE;
    assign in_ready = state == LOAD;

    always @(posedge clk) begin
        if (state == LOAD && in_valid) begin
            xbuf[gi] <= x_in;
            sbuf[gi] <= sign_word[1:0];
            ebuf[gi] <= exp_word[7:0];
            bbuf[gi] <= bias_word[BIAS_WIDTH-1:0];
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            chan <= 32'd0;
            gi <= {GW{1'b0}};
            bad <= 1'b0;
            abs_sum <= {SUMW{1'b0}};
            j <= {JW{1'b0}};
            out_valid <= 1'b0;
            out_value <= {OUT_WIDTH{1'b0}};
            grp_valid <= 1'b0;
            divisor_exp <= 16'sd0;
            done <= 1'b0;
            err <= 1'b0;
            err_class <= 2'd0;
        end else begin
            out_valid <= 1'b0;
            grp_valid <= 1'b0;
            done <= 1'b0;
            case (state)
            IDLE: if (start) begin
                err <= 1'b0;
                err_class <= 2'd0;
                bad <= 1'b0;
                chan <= 32'd0;
                gi <= {GW{1'b0}};
                abs_sum <= {SUMW{1'b0}};
                if (n_x != CHANNELS || n_sign != CHANNELS || n_exp != CHANNELS
                        || n_bias != CHANNELS) begin
                    done <= 1'b1;
                    err <= 1'b1;
                    err_class <= ERR_SHAPE;
                end else begin
                    state <= LOAD;
                end
            end
            LOAD: if (in_valid) begin
                if (!in_ok) bad <= 1'b1;
                abs_sum <= abs_sum + x_abs;
                chan <= chan + 32'd1;
                if (gi == G - 1) begin
                    gi <= {GW{1'b0}};
                    state <= DIV;
                end else begin
                    gi <= gi + 1'b1;
                end
            end
            DIV: begin
                j <= j_calc;
                state <= bad ? ((chan == CHANNELS) ? FIN : LOAD) : OUT;
                abs_sum <= bad ? {SUMW{1'b0}} : abs_sum;
            end
            OUT: begin
                out_valid <= 1'b1;
                out_value <= out_cur;
                if (gi == G - 1) begin
                    gi <= {GW{1'b0}};
                    state <= GRP;
                end else begin
                    gi <= gi + 1'b1;
                end
            end
            GRP: begin
                grp_valid <= 1'b1;
                divisor_exp <= j - IN_FRAC - EPS_EXP;
                abs_sum <= {SUMW{1'b0}};
                state <= (chan == CHANNELS) ? FIN : LOAD;
            end
            FIN: begin
                state <= IDLE;
                done <= 1'b1;
                err <= bad;
                err_class <= bad ? ERR_RANGE : 2'd0;
            end
            default: state <= IDLE;
            endcase
        end
    end
endmodule
