"""sorbet-ref: the exact integer definition of Sorbet inference.

The canonical tier: plain Python integers, one module per operator, each
module citing the section of ``spec/`` it executes.
"""

from reference.version import SPEC_VERSION

__all__ = ["SPEC_VERSION"]
