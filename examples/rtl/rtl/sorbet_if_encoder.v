// IF spike encoder (spec/04-quantizer-spikes.md, "IF encoder"), one time step per clock.
//
// For a count c in u{BITS}.0: V_0 = 0; for t = 1..T: V = V + c; s_t = (V >= T);
// if s_t then V = V - T. Each step drives step_valid with the spike and the membrane
// after the reset (the time-level profile); done rises with the last step.
// A count word outside u{BITS}.0 is not encoded: done with err, err_class RANGE.
//
// Handshake: start (one cycle, while idle) samples count_word; busy until done.
`timescale 1ns/1ps
module sorbet_if_encoder (
    clk, rst, start, count_word, busy, step_valid, spike, membrane, done, err, err_class
);
    parameter integer BITS = 4;
    parameter integer STEPS = 16;
`include "sorbet_util.vh"
    // Membrane width: before the reset V < 2T (theorem if.membrane).
    localparam MW = bitlen(2 * STEPS - 1);
    localparam TW = bitlen(STEPS);
    localparam [1:0] ERR_RANGE = 2'd1;

    input  wire           clk;
    input  wire           rst;
    input  wire           start;
    input  wire [63:0]    count_word;
    output wire           busy;
    output reg            step_valid;
    output reg            spike;
    output reg  [MW-1:0]  membrane;
    output reg            done;
    output reg            err;
    output reg  [1:0]     err_class;

    generate
        if (BITS < 1 || BITS > 8) begin : bad_bits
            sorbet_config_error_if_encoder_bits_outside_1_8 config_error ();
        end
        if (STEPS < 1 || STEPS > 1024) begin : bad_steps
            sorbet_config_error_if_encoder_steps_outside_1_1024 config_error ();
        end
        if (STEPS < (1 << BITS) - 1) begin : bad_steps_bits
            sorbet_config_error_if_encoder_steps_below_largest_count config_error ();
        end
    endgenerate

    // The count must fit u{BITS}.0: every bit above BITS-1 of the 64-bit word clear.
    wire count_ok = (count_word >> BITS) == 64'd0;

    reg              running;
    reg  [BITS-1:0]  c;
    reg  [MW-1:0]    v;
    reg  [TW-1:0]    t;
    wire [MW-1:0]    v_int  = v + {{(MW - BITS){1'b0}}, c};
    wire             fire   = v_int >= STEPS;
    wire [MW-1:0]    v_next = fire ? v_int - STEPS : v_int;

    assign busy = running;

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            step_valid <= 1'b0;
            spike <= 1'b0;
            membrane <= {MW{1'b0}};
            done <= 1'b0;
            err <= 1'b0;
            err_class <= 2'd0;
            c <= {BITS{1'b0}};
            v <= {MW{1'b0}};
            t <= {TW{1'b0}};
        end else begin
            step_valid <= 1'b0;
            done <= 1'b0;
            if (!running) begin
                if (start) begin
                    err <= !count_ok;
                    err_class <= count_ok ? 2'd0 : ERR_RANGE;
                    if (count_ok) begin
                        running <= 1'b1;
                        c <= count_word[BITS-1:0];
                        v <= {MW{1'b0}};
                        t <= {TW{1'b0}};
                    end else begin
                        done <= 1'b1;
                    end
                end
            end else begin
                step_valid <= 1'b1;
                spike <= fire;
                membrane <= v_next;
                v <= v_next;
                t <= t + 1'b1;
                if (t == STEPS - 1) begin
                    running <= 1'b0;
                    done <= 1'b1;
                end
            end
        end
    end
endmodule
