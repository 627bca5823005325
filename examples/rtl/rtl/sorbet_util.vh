// Elaboration-time helpers shared by the Sorbet units (included inside a module).
// Constant functions only: they size registers and constants, never build logic.

// Bit length of a non-negative value: the least w with v < 2^w (0 for v = 0).
function integer bitlen;
    input [127:0] v;
    integer i;
    begin
        bitlen = 0;
        for (i = 0; i < 128; i = i + 1)
            if (v[i]) bitlen = i + 1;
    end
endfunction

function integer max2;
    input integer a;
    input integer b;
    begin
        max2 = (a > b) ? a : b;
    end
endfunction
