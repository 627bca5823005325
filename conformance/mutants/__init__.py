"""The mutant catalog: plausible port bugs as variants of the reference, each of which the
committed vectors must kill (docs/mutants.md)."""
