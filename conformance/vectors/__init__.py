"""Making the conformance vectors: format, manifest, strategies, named cases, generator,
suites, flags, coverage, release archive and plain export (spec/10-vectors.md)."""
