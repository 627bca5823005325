"""The stable public Python API of sorbet-ref (docs/api.md).

Everything a Python backend or a tool around the suite needs, in one import::

    from conformance import api

    api.run_reference("ptsoftmax", config, inputs)       # one request, as the reference answers it
    raise api.Rejected("range", "x[3] out of range")     # a backend's rejection (spec/11)
    suite = api.load_vectors()                           # the committed vectors, verified
    result = api.check("python:my_port:Backend")         # a whole run, as ``sorbet-ref check``
    model = api.load_model("model.npz")                  # model files (spec/14)
    mf, report = api.convert(api.load_checkpoint("ckpt.safetensors"))  # spec/13

The names in ``__all__`` keep their meaning and signature within a major version of
sorbet-ref; every other module of ``conformance`` is internal and may move.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.model.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointLimits,
    load_checkpoint,
)
from conformance.model.convert import ConversionReport, convert_checkpoint, infer_config
from conformance.model.modelfile import ModelFile, ModelFileError, load_model, save_model
from conformance.operators import OPS, OpSpec
from conformance.operators import run_reference as _run_reference
from conformance.runner.backends import (
    Backend,
    BackendSpecError,
    Executor,
    ForkedBackend,
    Rejected,
    Unsupported,
    open_backend,
)
from conformance.runner.check import Options, Result, XfailEntry, run
from conformance.runner.report import write_reports
from conformance.vectors.manifest import default_vectors_dir
from conformance.vectors.release import verified_vectors
from reference.model_config import ModelConfig
from reference.version import SPEC_VERSION

__all__ = [
    "SPEC_VERSION",
    "Backend",
    "Checkpoint",
    "CheckpointError",
    "CheckpointLimits",
    "ConversionReport",
    "ModelConfig",
    "ModelFile",
    "ModelFileError",
    "OpSpec",
    "Rejected",
    "Result",
    "Unsupported",
    "VectorSuite",
    "VectorsError",
    "check",
    "convert",
    "default_vectors_dir",
    "load_checkpoint",
    "load_model",
    "load_vectors",
    "operators",
    "run_reference",
    "save_model",
]

JSON = Any


def operators() -> Mapping[str, OpSpec]:
    """Every operator by name, with its inputs, normative and profile outputs and spec file."""
    return OPS


def run_reference(op: str, config: Mapping[str, JSON], inputs: Mapping[str, JSON]
                  ) -> dict[str, JSON]:
    """The reference's answer to one request (spec/11): ``{"outputs": {...}}`` with every
    normative and profile output, or ``{"reject": CLASS, "message": TEXT}``."""
    return _run_reference(op, dict(config), inputs)


class VectorsError(ValueError):
    """A vectors directory failed verification; ``problems`` names each file and field."""

    def __init__(self, root: Path, problems: Sequence[str]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{root}: {len(problems)} problem(s):\n  {shown}{more}")
        self.root = root
        self.problems = list(problems)


@dataclass(frozen=True)
class VectorSuite:
    """A verified vectors directory: its manifest and every vector file, in manifest order."""

    root: Path
    manifest: Mapping[str, JSON]
    files: tuple[Mapping[str, JSON], ...]
    """The decoded vector files (spec/10-vectors.md, "File format")."""

    def vectors(self, ops: Sequence[str] = (), presets: Sequence[str] = ()
                ) -> Iterator[Mapping[str, JSON]]:
        """Every vector (``id``, ``op``, ``config``, ``inputs``, ``expected``, ``rule``, ...),
        restricted to the given operators and presets when those are not empty."""
        for data in self.files:
            if ops and data["op"] not in ops:
                continue
            if presets and data["preset"] not in presets:
                continue
            yield from data["vectors"]


def load_vectors(directory: str | Path | None = None) -> VectorSuite:
    """Read and verify a vectors directory through its manifest (hashes, schema, counts,
    identifiers, ``COVERAGE.md``), as ``sorbet-ref vectors verify`` does; :class:`VectorsError`
    on any problem."""
    root = Path(directory) if directory is not None else default_vectors_dir()
    loaded, problems = verified_vectors(root)
    if problems or loaded.manifest is None:
        raise VectorsError(root, problems or ["no readable manifest"])
    return VectorSuite(root, loaded.manifest, tuple(data for _, data in loaded.files))


def check(backend: str | Backend, vectors: str | Path | None = None, *,
          include: Sequence[str] = (), exclude: Sequence[str] = (),
          xfail: Sequence[tuple[str, str]] = (), timeout: float | None = 30.0,
          report_dir: str | Path | None = None) -> Result:
    """Run the vectors against a backend, as ``sorbet-ref check`` does (spec/12).

    ``backend`` is a ``--backend`` value (``reference``, ``python:MODULE:ATTR``,
    ``exec:'COMMAND ARGS'``, ``offline:DIR``) or an object with the :class:`Backend`
    protocol.  ``xfail`` holds ``(pattern, reason)`` pairs (globs over id, operator and
    suite, under the rules of spec/12, "Expected failures").  ``result.verdict`` is
    ``PASS``, ``FAIL`` or ``INCOMPLETE`` and ``result.exit_code`` the command's exit code;
    with ``report_dir`` the JSON and JUnit reports are written there.  A backend
    specification that names no usable backend is a run-level problem of the result (as
    on the command line), not an exception.

    A Backend object runs in a forked child process (POSIX), like ``python:MODULE:ATTR``
    runs in a worker process: an exit, a hang or a crash of the backend fails vectors,
    never the caller; each restart forks a fresh copy of the object as it is now.
    """
    root = Path(vectors) if vectors is not None else default_vectors_dir()
    opts = Options(root, tuple(include), tuple(exclude),
                   tuple(XfailEntry(p, r) for p, r in xfail))
    executor: Executor | None = None
    problem: str | None = None
    if isinstance(backend, str):
        spec = backend
        try:
            executor = open_backend(backend, timeout)
        except BackendSpecError as exc:
            problem = str(exc)
    else:
        executor = ForkedBackend(backend, timeout)
        spec = executor.name
    res = run(opts, executor, backend_error=problem, backend_spec=spec)
    if report_dir is not None:
        write_reports(res, Path(report_dir))
    return res


def convert(ckpt: Checkpoint, config: ModelConfig | None = None, *,
            base: ModelConfig | None = None, heads: int | None = None
            ) -> tuple[ModelFile, ConversionReport]:
    """Convert a float checkpoint in the authors' naming to a model file (spec/13).

    Without ``config`` the configuration is inferred as ``sorbet-ref convert`` does:
    formats from ``base`` (its ``--preset``), the head count from ``heads`` (``--heads``)
    or the checkpoint's metadata."""
    cfg = config if config is not None else infer_config(ckpt, base, heads)
    return convert_checkpoint(ckpt, cfg)
