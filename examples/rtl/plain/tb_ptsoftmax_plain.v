// Plain Verilog test bench of sorbet_ptsoftmax: no Python, no cocotb.
//
// Reads one vector of the plain export (`sorbet-ref vectors export`, spec/10-vectors.md,
// "Plain form") with $readmemh and writes the unit's answer in the offline form
// ("Offline results"): out.out.hex, partition.out.hex and k.out.hex (one 64-bit two's
// complement word a line), or reject.txt holding the rejection class.
//
// Plusargs (run.sh derives them from vector.txt):
//   +n=N            length of scores (0 when the field is absent: an empty row)
//   +scores=FILE    scores.in.hex (when N > 0)
//   +has_mask=0|1   +n_mask=M   +mask=FILE
//   +outdir=DIR     where the answer files go (must exist)
// The unit's parameters are set at elaboration (iverilog -P).
`timescale 1ns/1ps
module tb_ptsoftmax_plain;
    parameter integer MAX_LEN = 512;
    parameter integer SCORE_WIDTH = 24;
    parameter integer SCORE_FRAC = 8;
    parameter integer PARTITION_FRAC = 16;
    parameter integer OUT_FRAC = 16;
    localparam integer CAP = 65536;
`include "sorbet_util.vh"
    localparam integer ZW = PARTITION_FRAC + bitlen(MAX_LEN - 1) + 1;

    reg clk = 1'b0;
    always #5 clk = ~clk;

    reg         rst, start, has_mask, in_valid;
    reg  [31:0] n, n_mask;
    reg  [63:0] score_word, mask_word;
    wire        busy, in_ready, out_valid, done, err;
    wire [OUT_FRAC:0] p;
    wire [1:0]  err_class;
    wire [ZW-1:0] partition_w;
    wire signed [7:0] k;

    sorbet_ptsoftmax #(
        .MAX_LEN(MAX_LEN), .SCORE_WIDTH(SCORE_WIDTH), .SCORE_FRAC(SCORE_FRAC),
        .PARTITION_FRAC(PARTITION_FRAC), .OUT_FRAC(OUT_FRAC)
    ) dut (
        .clk(clk), .rst(rst), .start(start), .n(n), .has_mask(has_mask), .n_mask(n_mask),
        .busy(busy), .in_valid(in_valid), .in_ready(in_ready), .score_word(score_word),
        .mask_word(mask_word), .out_valid(out_valid), .p(p), .done(done),
        .partition(partition_w), .k(k),
        .err(err), .err_class(err_class)
    );

    reg [63:0] scores [0:CAP-1];
    reg [63:0] maskv  [0:CAP-1];
    reg [63:0] outs   [0:CAP-1];
    // Paths of up to 4095 characters.
    reg [8*4096:1] scores_file, mask_file, outdir, path;
    integer i, got, cycles, fd, hm, nn, nm;

    task write_word_file;
        input [8*4096:1] name;
        input integer count;
        integer j, f;
        begin
            f = $fopen(name, "w");
            if (f == 0) begin
                $display("tb_ptsoftmax_plain: cannot write %0s", name);
                $finish;
            end
            for (j = 0; j < count; j = j + 1) $fdisplay(f, "%016h", outs[j]);
            $fclose(f);
        end
    endtask

    initial begin
        if (!$value$plusargs("n=%d", nn)) nn = 0;
        if (!$value$plusargs("has_mask=%d", hm)) hm = 0;
        if (!$value$plusargs("n_mask=%d", nm)) nm = 0;
        if (!$value$plusargs("outdir=%s", outdir)) begin
            $display("tb_ptsoftmax_plain: +outdir=DIR is required");
            $finish;
        end
        if (nn > CAP || nm > CAP) begin
            $display("tb_ptsoftmax_plain: a tensor longer than %0d words is refused", CAP);
            $finish;
        end
        if (nn > 0) begin
            if (!$value$plusargs("scores=%s", scores_file)) begin
                $display("tb_ptsoftmax_plain: +scores=FILE is required when n > 0");
                $finish;
            end
            $readmemh(scores_file, scores, 0, nn - 1);
            for (i = 0; i < nn; i = i + 1)
                if (^scores[i] === 1'bx) begin
                    $display("tb_ptsoftmax_plain: %0s: word %0d missing or not hex", scores_file, i);
                    $finish;
                end
        end
        if (hm != 0 && nm > 0) begin
            if (!$value$plusargs("mask=%s", mask_file)) begin
                $display("tb_ptsoftmax_plain: +mask=FILE is required when n_mask > 0");
                $finish;
            end
            $readmemh(mask_file, maskv, 0, nm - 1);
            for (i = 0; i < nm; i = i + 1)
                if (^maskv[i] === 1'bx) begin
                    $display("tb_ptsoftmax_plain: %0s: word %0d missing or not hex", mask_file, i);
                    $finish;
                end
        end
        rst = 1'b1; start = 1'b0; in_valid = 1'b0; score_word = 64'd0; mask_word = 64'd0;
        n = nn; n_mask = nm; has_mask = hm != 0;
        repeat (3) @(negedge clk);
        rst = 1'b0;
        @(negedge clk);
        start = 1'b1;
        @(negedge clk);
        start = 1'b0;
        i = 0;
        got = 0;
        cycles = 0;
        while (!done && cycles < 64 * (nn + 16)) begin
            if (out_valid) begin
                outs[got] = {{(63 - OUT_FRAC){1'b0}}, p};
                got = got + 1;
            end
            if (in_ready && i < nn) begin
                score_word = scores[i];
                mask_word = (hm != 0 && i < nm) ? maskv[i] : 64'd0;
                in_valid = 1'b1;
                i = i + 1;
            end else begin
                in_valid = 1'b0;
            end
            @(negedge clk);
            cycles = cycles + 1;
        end
        if (!done) begin
            $display("tb_ptsoftmax_plain: the unit did not finish");
            $finish;
        end
        if (err) begin
            $sformat(path, "%0s/reject.txt", outdir);
            fd = $fopen(path, "w");
            case (err_class)
                2'd1: $fdisplay(fd, "range");
                2'd2: $fdisplay(fd, "shape");
                2'd3: $fdisplay(fd, "mask");
                default: $fdisplay(fd, "unknown");
            endcase
            $fclose(fd);
        end else begin
            $sformat(path, "%0s/out.out.hex", outdir);
            write_word_file(path, got);
            outs[0] = partition_w;
            $sformat(path, "%0s/partition.out.hex", outdir);
            write_word_file(path, 1);
            outs[0] = {{56{k[7]}}, k};
            $sformat(path, "%0s/k.out.hex", outdir);
            write_word_file(path, 1);
        end
        $finish;
    end
endmodule
