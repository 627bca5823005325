"""Z3 proof obligations of the theorems in spec/09-theorems.md.

- :mod:`conformance.proofs.z3algebra`: the reference's algebra on Z3 bit-vectors;
- :mod:`conformance.proofs.registry`: every obligation by its stable name;
- :mod:`conformance.proofs.runner`: discharge them for a preset, report;
- :mod:`conformance.proofs.regressions`: counterexamples as regression inputs
  (:func:`load_regressions`) and witnesses as boundary inputs (:func:`boundary_inputs`).
"""

from __future__ import annotations

from conformance.proofs.regressions import boundary_inputs, load_regressions

__all__ = ["boundary_inputs", "load_regressions"]
