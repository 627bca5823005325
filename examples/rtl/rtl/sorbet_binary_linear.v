// Binary-weight spiking linear layer (spec/05-binary-linear.md), time level.
//
// Every input count c_j is sent through the IF encoder (sorbet_if_encoder, one time step
// a clock); each spike at step t adds its weight's sign to the step's increment
// D_i(t) += s_ij (+1 or -1, an accumulate, no multiply). Afterwards the running sums
// A_i(t) = D_i(1) + ... + D_i(t) are the `partial` profile and
// acc_i = A_i(T) - o * sum_j s_ij, where o = 2^(b-1) (signed input) or 0, so the offset
// correction is a shift of the sign sum. Theorem lin.time_eq_count: acc_i equals the
// count-level sum_j (c_j - o) * s_ij.
//
// Handshake: start (while idle) samples the lengths of counts and signs; other than
// IN_FEATURES and OUT_FEATURES * IN_FEATURES they are SHAPE and end the call. Then
// IN_FEATURES elements are taken with in_valid/in_ready: count_word and the column
// signs_word (OUT_FEATURES 64-bit words, output i in bits 64i+63..64i; the weights of
// input j to every output). A count outside u{BITS}.0 or a sign other than -1/+1 is
// RANGE: the call ends with err and no outputs. Otherwise, for each output i, T words
// on part_valid/part_value (A_i(1) .. A_i(T)), the last together with acc_valid/acc_value;
// done follows.
`timescale 1ns/1ps
module sorbet_binary_linear (
    clk, rst, start, n_counts, n_signs, busy, in_valid, in_ready, count_word, signs_word,
    part_valid, part_value, acc_valid, acc_value, done, err, err_class
);
    parameter integer IN_FEATURES = 768;
    parameter integer OUT_FEATURES = 2;
    parameter integer BITS = 4;
    parameter integer STEPS = 16;
    parameter integer SIGNED_INPUT = 1;
`include "sorbet_util.vh"
    localparam OFFSET = SIGNED_INPUT ? (1 << (BITS - 1)) : 0;
    localparam TERM_MAX = max2(OFFSET, (1 << BITS) - 1 - OFFSET);
    // Accumulator format s{ACC_W}.0 (theorem lin.acc_width); the running sums reach
    // n * (2^b - 1) and the per-step increments n in magnitude.
    localparam ACC_W = max2(2, bitlen(IN_FEATURES * TERM_MAX) + 1);
    localparam PART_W = bitlen(IN_FEATURES * ((1 << BITS) - 1)) + 1;
    localparam DW = bitlen(IN_FEATURES) + 1;
    localparam CELLS = OUT_FEATURES * STEPS;
    localparam CW = max2(bitlen(CELLS), 1);
    localparam TW = max2(bitlen(STEPS), 1);
    localparam MW = bitlen(2 * STEPS - 1);
    localparam [1:0] ERR_RANGE = 2'd1, ERR_SHAPE = 2'd2;

    input  wire                        clk;
    input  wire                        rst;
    input  wire                        start;
    input  wire [31:0]                 n_counts;
    input  wire [31:0]                 n_signs;
    output wire                        busy;
    input  wire                        in_valid;
    output wire                        in_ready;
    input  wire [63:0]                 count_word;
    input  wire [64*OUT_FEATURES-1:0]  signs_word;
    output reg                         part_valid;
    output reg  signed [PART_W-1:0]    part_value;
    output reg                         acc_valid;
    output reg  signed [ACC_W-1:0]     acc_value;
    output reg                         done;
    output reg                         err;
    output reg  [1:0]                  err_class;

    generate
        if (IN_FEATURES < 1 || IN_FEATURES > 65536) begin : bad_in_features
            sorbet_config_error_binary_linear_in_features_outside_1_65536 config_error ();
        end
        if (OUT_FEATURES < 1 || OUT_FEATURES > 65536) begin : bad_out_features
            sorbet_config_error_binary_linear_out_features_outside_1_65536 config_error ();
        end
        if (BITS < 1 || BITS > 8) begin : bad_bits
            sorbet_config_error_binary_linear_bits_outside_1_8 config_error ();
        end
        if (STEPS < 1 || STEPS > 1024) begin : bad_steps
            sorbet_config_error_binary_linear_steps_outside_1_1024 config_error ();
        end
        if (STEPS < (1 << BITS) - 1) begin : bad_steps_bits
            sorbet_config_error_binary_linear_steps_below_largest_count config_error ();
        end
        if (SIGNED_INPUT != 0 && SIGNED_INPUT != 1) begin : bad_signed
            sorbet_config_error_binary_linear_signed_input_not_boolean config_error ();
        end
    endgenerate

    localparam [2:0] IDLE = 3'd0, LOAD = 3'd1, ENC = 3'd2, EMIT = 3'd3, FIN = 3'd4;
    reg [2:0]  state;
    reg [31:0] taken;
    reg        bad;
    reg [OUT_FEATURES-1:0] col;            // sign bits of the current input (1 = +1)
    reg [TW-1:0] t;
    reg [CW-1:0] ptr;
    reg [TW-1:0] et;
    reg [31:0] oi;
    reg signed [PART_W-1:0] run;
    reg signed [DW-1:0] dmem [0:CELLS-1];  // D_i(t) at i * STEPS + t
    reg signed [DW-1:0] ssum [0:OUT_FEATURES-1]; // sum_j s_ij

    // Input checks: the count fits u{BITS}.0, every sign word is +1 or -1.
    reg signs_ok;
    reg [OUT_FEATURES-1:0] col_in;
    integer i;
    always @* begin
        signs_ok = 1'b1;
        for (i = 0; i < OUT_FEATURES; i = i + 1) begin
            col_in[i] = signs_word[64*i +: 64] == 64'd1;
            if (signs_word[64*i +: 64] != 64'd1 && signs_word[64*i +: 64] != {64{1'b1}})
                signs_ok = 1'b0;
        end
    end
    wire count_ok = (count_word >> BITS) == 64'd0;
    wire elem_ok = count_ok && signs_ok;
    wire accept = state == LOAD && in_valid;

    wire            enc_step;
    wire            enc_spike;
    wire [MW-1:0]   enc_membrane;
    wire            enc_done;
    wire            enc_err;
    wire [1:0]      enc_err_class;
    wire            enc_busy;
    sorbet_if_encoder #(.BITS(BITS), .STEPS(STEPS)) encoder (
        .clk(clk), .rst(rst), .start(accept && elem_ok && !bad), .count_word(count_word),
        .busy(enc_busy), .step_valid(enc_step), .spike(enc_spike), .membrane(enc_membrane),
        .done(enc_done), .err(enc_err), .err_class(enc_err_class)
    );

    wire signed [PART_W-1:0] d_ext = dmem[ptr];
    wire signed [PART_W-1:0] run_next = run + d_ext;
    wire signed [PART_W+BITS:0] corr = ssum[oi];
    wire signed [PART_W+BITS:0] offset_sum = SIGNED_INPUT ? (corr <<< (BITS - 1))
                                                          : {(PART_W + BITS + 1){1'b0}};
    wire signed [PART_W+BITS:0] acc_full = run_next - offset_sum;

    assign busy = state != IDLE;
    assign in_ready = state == LOAD;

    always @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            taken <= 32'd0;
            bad <= 1'b0;
            col <= {OUT_FEATURES{1'b0}};
            t <= {TW{1'b0}};
            ptr <= {CW{1'b0}};
            et <= {TW{1'b0}};
            oi <= 32'd0;
            run <= {PART_W{1'b0}};
            part_valid <= 1'b0;
            part_value <= {PART_W{1'b0}};
            acc_valid <= 1'b0;
            acc_value <= {ACC_W{1'b0}};
            done <= 1'b0;
            err <= 1'b0;
            err_class <= 2'd0;
        end else begin
            part_valid <= 1'b0;
            acc_valid <= 1'b0;
            done <= 1'b0;
            case (state)
            IDLE: if (start) begin
                err <= 1'b0;
                err_class <= 2'd0;
                bad <= 1'b0;
                taken <= 32'd0;
                for (i = 0; i < CELLS; i = i + 1) dmem[i] <= {DW{1'b0}};
                for (i = 0; i < OUT_FEATURES; i = i + 1) ssum[i] <= {DW{1'b0}};
                if (n_counts != IN_FEATURES || n_signs != OUT_FEATURES * IN_FEATURES) begin
                    done <= 1'b1;
                    err <= 1'b1;
                    err_class <= ERR_SHAPE;
                end else begin
                    state <= LOAD;
                end
            end
            LOAD: if (in_valid) begin
                taken <= taken + 32'd1;
                if (elem_ok && !bad) begin
                    col <= col_in;
                    for (i = 0; i < OUT_FEATURES; i = i + 1)
                        ssum[i] <= col_in[i] ? ssum[i] + 1'b1 : ssum[i] - 1'b1;
                    t <= {TW{1'b0}};
                    state <= ENC;
                end else begin
                    bad <= 1'b1;
                    if (taken == IN_FEATURES - 1) state <= FIN;
                end
            end
            ENC: if (enc_step) begin
                for (i = 0; i < OUT_FEATURES; i = i + 1)
                    if (enc_spike)
                        dmem[i * STEPS + t] <= col[i] ? dmem[i * STEPS + t] + 1'b1
                                                      : dmem[i * STEPS + t] - 1'b1;
                t <= t + 1'b1;
                if (enc_done) begin
                    ptr <= {CW{1'b0}};
                    et <= {TW{1'b0}};
                    oi <= 32'd0;
                    run <= {PART_W{1'b0}};
                    state <= (taken == IN_FEATURES) ? EMIT : LOAD;
                end
            end
            EMIT: begin
                part_valid <= 1'b1;
                part_value <= run_next;
                if (et == STEPS - 1) begin
                    acc_valid <= 1'b1;
                    acc_value <= acc_full[ACC_W-1:0];
                    run <= {PART_W{1'b0}};
                    et <= {TW{1'b0}};
                    oi <= oi + 32'd1;
                    if (ptr == CELLS - 1) state <= FIN;
                end else begin
                    run <= run_next;
                    et <= et + 1'b1;
                end
                ptr <= ptr + 1'b1;
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
