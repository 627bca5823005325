"""Running a port against the vectors: backends, the check loop and its verdict, reports
(spec/11-backend-protocol.md, spec/12-conformance-levels.md)."""
