"""Making the conformance vectors: format, manifest, strategies, named cases, generator,
suites, flags, coverage, release archive, plain export and the identity of the published
suite (spec/10-vectors.md)."""
