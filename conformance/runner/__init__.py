"""Running a port against the vectors: backends, child processes with bounded I/O, the
Python worker, the check loop and its verdict, reports (spec/11-backend-protocol.md,
spec/12-conformance-levels.md)."""
