// Quantizer / requantizer (spec/04-quantizer-spikes.md, "Quantizer"), one element a clock.
//
// Per element: v = x * M + bias; q = round_half_even(v / 2^s); q = clamp(q, q_min, q_max);
// count = q - q_min. The shift s (0..62) may exceed the width of v: the remainder and the
// half are formed on the 64-bit sign extension of v (spec/01, "Shift amounts at or past
// the width of x").
//
// The product x * M is the one multiplier of the Sorbet units: M is a per-call constant
// (any integer 1 .. 2^MULTIPLIER_BITS - 1, chosen by the converter for a step that is not a
// power of two), so it cannot be a fixed shift. With M a power of two it would be one.
//
// Handshake: start (while idle) samples mult_word, shift_word, bias_word and n, the
// number of elements; a parameter outside its range ends the call at once (done, err,
// RANGE). Then n elements x_word are taken with x_valid/x_ready; each gives, one clock
// later, count_valid with count (or count_err for an x outside s{IN_WIDTH}.0, which makes
// the call end with err RANGE). done follows the last count.
`timescale 1ns/1ps
module sorbet_quantizer (
    clk, rst, start, mult_word, shift_word, bias_word, n, busy,
    x_valid, x_ready, x_word, count_valid, count, count_err, done, err, err_class
);
    parameter integer BITS = 4;
    parameter integer SIGNED = 1;
    parameter integer IN_WIDTH = 24;
    parameter integer MULTIPLIER_BITS = 16;
    parameter integer BIAS_WIDTH = 32;
`include "sorbet_util.vh"
    localparam [1:0] ERR_RANGE = 2'd1;
    // Signed width of x * M + bias (theorem quant.no_overflow); 64 bits always hold it.
    localparam PW = 64;
    localparam signed [63:0] X_MIN = -(64'sd1 <<< (IN_WIDTH - 1));
    localparam signed [63:0] X_MAX = (64'sd1 <<< (IN_WIDTH - 1)) - 1;
    localparam signed [63:0] B_MIN = -(64'sd1 <<< (BIAS_WIDTH - 1));
    localparam signed [63:0] B_MAX = (64'sd1 <<< (BIAS_WIDTH - 1)) - 1;
    localparam signed [63:0] M_MAX = (64'sd1 <<< MULTIPLIER_BITS) - 1;
    localparam signed [63:0] Q_MIN = SIGNED ? -(64'sd1 <<< (BITS - 1)) : 64'sd0;
    localparam signed [63:0] Q_MAX = SIGNED ? (64'sd1 <<< (BITS - 1)) - 1
                                            : (64'sd1 <<< BITS) - 1;

    input  wire              clk;
    input  wire              rst;
    input  wire              start;
    input  wire [63:0]       mult_word;
    input  wire [63:0]       shift_word;
    input  wire [63:0]       bias_word;
    input  wire [31:0]       n;
    output wire              busy;
    input  wire              x_valid;
    output wire              x_ready;
    input  wire [63:0]       x_word;
    output reg               count_valid;
    output reg  [BITS-1:0]   count;
    output reg               count_err;
    output reg               done;
    output reg               err;
    output reg  [1:0]        err_class;

    generate
        if (BITS < 1 || BITS > 8) begin : bad_bits
            sorbet_config_error_quantizer_bits_outside_1_8 config_error ();
        end
        if (SIGNED != 0 && SIGNED != 1) begin : bad_signed
            sorbet_config_error_quantizer_signed_not_boolean config_error ();
        end
        if (IN_WIDTH < 2 || IN_WIDTH > 32) begin : bad_in_width
            sorbet_config_error_quantizer_in_width_outside_2_32 config_error ();
        end
        if (MULTIPLIER_BITS < 1 || MULTIPLIER_BITS > 24) begin : bad_mult_bits
            sorbet_config_error_quantizer_multiplier_bits_outside_1_24 config_error ();
        end
        if (BIAS_WIDTH < 2 || BIAS_WIDTH > 40) begin : bad_bias_width
            sorbet_config_error_quantizer_bias_width_outside_2_40 config_error ();
        end
    endgenerate

    // Range checks of the per-call words, on their 64-bit two's complement values.
    wire signed [63:0] mult_s  = mult_word;
    wire signed [63:0] shift_s = shift_word;
    wire signed [63:0] bias_s  = bias_word;
    wire signed [63:0] x_s     = x_word;
    wire params_ok = mult_s >= 64'sd1 && mult_s <= M_MAX
                  && shift_s >= 64'sd0 && shift_s <= 64'sd62
                  && bias_s >= B_MIN && bias_s <= B_MAX;
    wire x_ok = x_s >= X_MIN && x_s <= X_MAX;

    reg                        running;
    reg  [31:0]                left;
    reg  [MULTIPLIER_BITS-1:0]       m;
    reg  [5:0]                 s;
    reg  signed [BIAS_WIDTH-1:0] b;
    reg                        any_err;

    // Datapath on the narrow operands: x in IN_WIDTH bits, M unsigned in MULTIPLIER_BITS.
    wire signed [IN_WIDTH-1:0]            x_n  = x_word[IN_WIDTH-1:0];
    wire signed [MULTIPLIER_BITS:0]             m_n  = {1'b0, m};
    wire signed [IN_WIDTH+MULTIPLIER_BITS:0]    prod = x_n * m_n;
    wire signed [PW-1:0]                  v    = prod + b;
    // half_even: q = v >> s, r = v - q * 2^s (the low s bits), h = 2^(s-1).
    wire signed [PW-1:0]                  q    = v >>> s;
    wire [PW-1:0]                         low_mask = (64'd1 << s) - 64'd1;
    wire [PW-1:0]                         r    = v & low_mask;
    wire [PW-1:0]                         h    = (s == 6'd0) ? 64'd0 : (64'd1 << (s - 6'd1));
    wire                                  up   = (s != 6'd0) && ((r > h) || (r == h && q[0]));
    wire signed [PW-1:0]                  qr   = q + {{(PW - 1){1'b0}}, up};
    wire signed [PW-1:0]                  qc   = (qr < Q_MIN) ? Q_MIN : ((qr > Q_MAX) ? Q_MAX : qr);
    wire [PW-1:0]                         c    = qc - Q_MIN;

    assign busy = running;
    assign x_ready = running && left != 32'd0;

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            left <= 32'd0;
            m <= {MULTIPLIER_BITS{1'b0}};
            s <= 6'd0;
            b <= {BIAS_WIDTH{1'b0}};
            any_err <= 1'b0;
            count_valid <= 1'b0;
            count <= {BITS{1'b0}};
            count_err <= 1'b0;
            done <= 1'b0;
            err <= 1'b0;
            err_class <= 2'd0;
        end else begin
            count_valid <= 1'b0;
            count_err <= 1'b0;
            done <= 1'b0;
            if (!running) begin
                if (start) begin
                    err <= 1'b0;
                    err_class <= 2'd0;
                    any_err <= 1'b0;
                    if (!params_ok) begin
                        done <= 1'b1;
                        err <= 1'b1;
                        err_class <= ERR_RANGE;
                    end else if (n == 32'd0) begin
                        done <= 1'b1;
                    end else begin
                        running <= 1'b1;
                        left <= n;
                        m <= mult_word[MULTIPLIER_BITS-1:0];
                        s <= shift_word[5:0];
                        b <= bias_word[BIAS_WIDTH-1:0];
                    end
                end
            end else if (left == 32'd0) begin
                running <= 1'b0;
                done <= 1'b1;
                err <= any_err;
                err_class <= any_err ? ERR_RANGE : 2'd0;
            end else if (x_valid) begin
                left <= left - 32'd1;
                count_valid <= 1'b1;
                count_err <= !x_ok;
                count <= x_ok ? c[BITS-1:0] : {BITS{1'b0}};
                if (!x_ok) any_err <= 1'b1;
            end
        end
    end
endmodule
