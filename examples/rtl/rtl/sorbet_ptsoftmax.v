// PTsoftmax of one row (spec/02-ptsoftmax.md), one score a clock in, one output a clock out.
//
// 1. s_i = ceil(x_i / 2^score_frac) = -((-x_i) >> score_frac), stored in the row buffer;
// 2. all masked: every output 0, Z = 0, K = -1;
// 3. m = max of s_i over the unmasked entries; d_i = m - s_i;
// 4. e_i = 2^(F - d_i) for d_i <= F, else 0;   5. Z = sum of e_i (partition_width bits);
// 6. K = leading one of Z, plus one if the next lower bit is set (ties up);
// 7. p_i = (e_i << out_frac) >> K; masked entries 0.
// Every e_i and p_i is 0 or a power of two, so steps 4-7 are shifts: no multiplier.
//
// Handshake: start (while idle) samples n (row length), has_mask and n_mask. A row
// length of 0 or above MAX_LEN is SHAPE, a mask whose length differs from the row is MASK;
// both end the call at once. Then n elements (score_word, mask_word) are taken with
// in_valid/in_ready; a score outside s{SCORE_WIDTH}.{SCORE_FRAC} is RANGE, a mask word
// other than 0 or 1 is MASK (the call then ends with err after the row, no outputs).
// Otherwise n outputs follow on out_valid/p, then done with partition and k.
`timescale 1ns/1ps
module sorbet_ptsoftmax (
    clk, rst, start, n, has_mask, n_mask, busy, in_valid, in_ready, score_word, mask_word,
    out_valid, p, done, partition, k, err, err_class
);
    parameter integer MAX_LEN = 512;
    parameter integer SCORE_WIDTH = 24;
    parameter integer SCORE_FRAC = 8;
    parameter integer PARTITION_FRAC = 16;
    parameter integer OUT_FRAC = 16;
`include "sorbet_util.vh"
    localparam F = PARTITION_FRAC;
    localparam L = bitlen(MAX_LEN - 1);
    localparam ZW = F + L + 1;                  // partition_width (theorem ptsm.acc_width)
    localparam SW = SCORE_WIDTH - SCORE_FRAC + 1; // signed width of s_i
    localparam DW = SW + 1;                     // signed width of m - s_i
    localparam PWID = OUT_FRAC + 1;             // output format u{out_frac+1}.{out_frac}
    localparam AW = max2(bitlen(MAX_LEN - 1), 1);
    localparam KW = 8;                          // signed K, -1 for an all-masked row
    localparam [1:0] ERR_RANGE = 2'd1, ERR_SHAPE = 2'd2, ERR_MASK = 2'd3;
    localparam signed [63:0] X_MIN = -(64'sd1 <<< (SCORE_WIDTH - 1));
    localparam signed [63:0] X_MAX = (64'sd1 <<< (SCORE_WIDTH - 1)) - 1;

    input  wire                clk;
    input  wire                rst;
    input  wire                start;
    input  wire [31:0]         n;
    input  wire                has_mask;
    input  wire [31:0]         n_mask;
    output wire                busy;
    input  wire                in_valid;
    output wire                in_ready;
    input  wire [63:0]         score_word;
    input  wire [63:0]         mask_word;
    output reg                 out_valid;
    output reg  [PWID-1:0]     p;
    output reg                 done;
    output reg  [ZW-1:0]       partition;
    output reg  signed [KW-1:0] k;
    output reg                 err;
    output reg  [1:0]          err_class;

    generate
        if (MAX_LEN < 1 || MAX_LEN > 65536) begin : bad_max_len
            sorbet_config_error_ptsoftmax_max_len_outside_1_65536 config_error ();
        end
        if (SCORE_WIDTH < 2 || SCORE_WIDTH > 48) begin : bad_score_width
            sorbet_config_error_ptsoftmax_score_width_outside_2_48 config_error ();
        end
        if (SCORE_FRAC < 0 || SCORE_FRAC > SCORE_WIDTH - 1) begin : bad_score_frac
            sorbet_config_error_ptsoftmax_score_frac_outside_0_score_width_minus_1 config_error ();
        end
        if (PARTITION_FRAC < 0 || PARTITION_FRAC > 30) begin : bad_partition_frac
            sorbet_config_error_ptsoftmax_partition_frac_outside_0_30 config_error ();
        end
        if (OUT_FRAC < 0 || OUT_FRAC > 30) begin : bad_out_frac
            sorbet_config_error_ptsoftmax_out_frac_outside_0_30 config_error ();
        end
    endgenerate

    localparam [2:0] IDLE = 3'd0, LOAD = 3'd1, SUM = 3'd2, OUT = 3'd3, FIN = 3'd4;
    reg [2:0]  state;
    reg        has_mask_r;
    reg [31:0] len;
    reg [AW-1:0] idx;
    reg        any_live;
    reg        bad;
    reg [1:0]  bad_class;
    reg signed [SW-1:0] m;
    reg [ZW-1:0] z;

    // The row buffer: s_i and the mask bit of every entry.
    reg signed [SW-1:0] sbuf [0:MAX_LEN-1];
    reg                 mbuf [0:MAX_LEN-1];

    // Step 1 on the incoming word (only its low SCORE_WIDTH bits once it is in range).
    wire signed [63:0]          x_s   = score_word;
    wire                        x_ok  = x_s >= X_MIN && x_s <= X_MAX;
    wire signed [SCORE_WIDTH:0] x_n   = {score_word[SCORE_WIDTH-1], score_word[SCORE_WIDTH-1:0]};
    wire signed [SCORE_WIDTH:0] neg_x = -x_n;
    wire signed [SCORE_WIDTH:0] fl    = neg_x >>> SCORE_FRAC;
    wire signed [SW-1:0]        s_in  = -fl;
    wire                        m_ok  = mask_word == 64'd0 || mask_word == 64'd1;
    wire                        live_in = has_mask_r ? mask_word[0] : 1'b1;

    // Steps 3-4 on the buffered entry idx.
    wire signed [SW-1:0]  s_cur  = sbuf[idx];
    wire                  l_cur  = mbuf[idx];
    wire signed [DW-1:0]  d      = m - s_cur;
    wire                  kept   = d <= F;
    wire [ZW-1:0]         e      = kept ? ({{(ZW - 1){1'b0}}, 1'b1} << (F - d)) : {ZW{1'b0}};
    // Step 6 on z: leading one at position lead, K = lead + bit(lead - 1).
    reg [KW-1:0] lead;
    reg          next_bit;
    integer b;
    always @* begin
        lead = {KW{1'b0}};
        next_bit = 1'b0;
        for (b = 0; b < ZW; b = b + 1)
            if (z[b]) begin
                lead = b;
                next_bit = (b > 0) ? z[b - 1] : 1'b0;
            end
    end
    // Step 7: p = (e << out_frac) >> K, for e a power of two at most 2^F.
    wire [F+OUT_FRAC:0] scaled = {{OUT_FRAC{1'b0}}, e[F:0]} << OUT_FRAC;
    wire [KW-1:0]       k_cur  = lead + next_bit;
    wire [F+OUT_FRAC:0] p_cur  = scaled >> k_cur;

    assign busy = state != IDLE;
    assign in_ready = state == LOAD;

    always @(posedge clk) begin
        if (state == LOAD && in_valid) begin
            sbuf[idx] <= s_in;
            mbuf[idx] <= live_in;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            len <= 32'd0;
            idx <= {AW{1'b0}};
            any_live <= 1'b0;
            bad <= 1'b0;
            bad_class <= 2'd0;
            m <= {SW{1'b0}};
            z <= {ZW{1'b0}};
            has_mask_r <= 1'b0;
            out_valid <= 1'b0;
            p <= {PWID{1'b0}};
            done <= 1'b0;
            partition <= {ZW{1'b0}};
            k <= {KW{1'b0}};
            err <= 1'b0;
            err_class <= 2'd0;
        end else begin
            out_valid <= 1'b0;
            done <= 1'b0;
            case (state)
            IDLE: if (start) begin
                err <= 1'b0;
                err_class <= 2'd0;
                bad <= 1'b0;
                bad_class <= 2'd0;
                any_live <= 1'b0;
                z <= {ZW{1'b0}};
                idx <= {AW{1'b0}};
                len <= n;
                has_mask_r <= has_mask;
                if (n == 32'd0 || n > MAX_LEN) begin
                    done <= 1'b1;
                    err <= 1'b1;
                    err_class <= ERR_SHAPE;
                end else if (has_mask && n_mask != n) begin
                    done <= 1'b1;
                    err <= 1'b1;
                    err_class <= ERR_MASK;
                end else begin
                    state <= LOAD;
                end
            end
            LOAD: if (in_valid) begin
                if (!x_ok && !bad) begin
                    bad <= 1'b1;
                    bad_class <= ERR_RANGE;
                end else if (has_mask_r && !m_ok && !bad) begin
                    bad <= 1'b1;
                    bad_class <= ERR_MASK;
                end
                if (live_in && (!any_live || s_in > m)) m <= s_in;
                if (live_in) any_live <= 1'b1;
                if (idx == len - 1) begin
                    idx <= {AW{1'b0}};
                    state <= SUM;
                end else begin
                    idx <= idx + 1'b1;
                end
            end
            SUM: begin
                if (bad) begin
                    state <= FIN;
                end else begin
                    if (any_live && l_cur) z <= z + e;
                    if (idx == len - 1) begin
                        idx <= {AW{1'b0}};
                        state <= OUT;
                    end else begin
                        idx <= idx + 1'b1;
                    end
                end
            end
            OUT: begin
                // z is final once SUM is over, so k_cur is K.
                out_valid <= 1'b1;
                p <= (any_live && l_cur) ? p_cur[PWID-1:0] : {PWID{1'b0}};
                if (idx == len - 1) state <= FIN;
                else idx <= idx + 1'b1;
            end
            FIN: begin
                state <= IDLE;
                done <= 1'b1;
                err <= bad;
                err_class <= bad ? bad_class : 2'd0;
                partition <= bad ? {ZW{1'b0}} : z;
                k <= (!bad && any_live) ? k_cur : {KW{1'b1}};
            end
            default: state <= IDLE;
            endcase
        end
    end
endmodule
