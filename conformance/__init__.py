"""sorbet-ref conformance: operator registry, vectors, runner, proofs, mutants."""
