"""A backend that follows the authors' floating point formulas (docs/float-port.md)."""
