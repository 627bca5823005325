"""Whole models outside the vectors: the model file, checkpoints and the converter, the float
mirror of the authors' model, random and synthetic models (spec/13, spec/14)."""
