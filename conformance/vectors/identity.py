"""The identity of a vectors directory: is it the published suite? (spec/10-vectors.md,
"Published suite"; spec/12-conformance-levels.md, "Verdict and exit code").

A manifest pins its files by SHA-256, but anyone can edit a vector and re-hash the
manifest.  So the package itself carries, per spec version, the SHA-256 of the
published ``manifest.json`` and of every file it lists (``published.json`` beside
this module, written by ``sorbet-ref vectors generate`` into the committed
``vectors/`` and compared by ``vectors generate --check`` and the tests).  A run's
suite is then:

- ``published``: its manifest is byte for byte the published one;
- ``published-subset``: another manifest, but every file it lists is a published
  file (same path, same SHA-256): the same as selecting those suites with
  ``--include``;
- ``unpublished``: some file is not a published file (edited, dropped vectors,
  a suite of one's own presets), or no suite is pinned for this spec version.  Such
  a run is labelled in its verdict and every report and never passes as a claim.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance import strictjson
from reference.version import SPEC_VERSION

JSON = Any

PIN_FILE = Path(__file__).resolve().with_name("published.json")
"""The pins of the published suites, package data (one object per spec version)."""

PUBLISHED = "published"
SUBSET = "published-subset"
UNPUBLISHED = "unpublished"


@dataclass(frozen=True)
class Pin:
    """The published suite of one spec version."""

    spec_version: str
    manifest_sha256: str
    files: Mapping[str, str]
    """Path (relative to the vectors directory) -> SHA-256 of every published file."""


@dataclass(frozen=True)
class SuiteIdentity:
    """What a run's vectors are, for the verdict line and every report."""

    kind: str
    """``published``, ``published-subset`` or ``unpublished``."""
    spec_version: str
    manifest_sha256: str | None
    published_sha256: str | None
    """The pinned manifest SHA-256 of this spec version (None: none is pinned)."""
    files: int
    """Vector files the run's manifest lists."""
    published_files: int
    """Vector files of the published suite."""
    foreign: tuple[str, ...] = ()
    """Listed files that are not published files (the first few)."""

    @property
    def claimable(self) -> bool:
        """Whether a run on this suite can support a conformance claim."""
        return self.kind in (PUBLISHED, SUBSET)

    def label(self) -> str:
        """One line naming the suite and whether it is the published one."""
        sha = (self.manifest_sha256 or "unreadable")[:16]
        if self.kind == PUBLISHED:
            return f"published suite of spec {self.spec_version} (manifest sha256 {sha}...)"
        if self.kind == SUBSET:
            return (f"{self.files} of the {self.published_files} files of the published suite "
                    f"of spec {self.spec_version}, unchanged (manifest sha256 {sha}...)")
        if self.published_sha256 is None:
            why = f"no published suite is pinned for spec {self.spec_version}"
        elif self.foreign:
            shown = ", ".join(self.foreign[:3]) + (" ..." if len(self.foreign) > 3 else "")
            why = f"not published files: {shown}"
        else:
            why = "the manifest is not the published one"
        return (f"UNPUBLISHED suite (manifest sha256 {sha}...; {why}): a non-conformance "
                "run; no claim can rest on it")

    def to_json(self) -> dict[str, JSON]:
        """The ``suite`` block of the JSON report."""
        return {"identity": self.kind, "label": self.label(), "spec_version": self.spec_version,
                "manifest_sha256": self.manifest_sha256,
                "published_manifest_sha256": self.published_sha256, "files": self.files,
                "published_files": self.published_files, "not_published": list(self.foreign)}


class PinError(ValueError):
    """``published.json`` is unreadable or malformed (a broken installation)."""


def load_pins(path: Path = PIN_FILE) -> dict[str, Pin]:
    """Every pinned suite, by spec version."""
    try:
        data = strictjson.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PinError(f"{path}: cannot read the published-suite pins: {exc}") from None
    if not isinstance(data, dict):
        raise PinError(f"{path}: expected an object spec_version -> pin")
    pins: dict[str, Pin] = {}
    for version, pin in data.items():
        ok = (isinstance(pin, dict) and isinstance(pin.get("manifest_sha256"), str)
              and isinstance(pin.get("files"), dict)
              and all(isinstance(k, str) and isinstance(v, str) for k, v in pin["files"].items()))
        if not ok:
            raise PinError(f"{path}: {version}: expected {{manifest_sha256, files: {{path: "
                           "sha256}}}}")
        pins[version] = Pin(version, pin["manifest_sha256"], dict(pin["files"]))
    return pins


def identify(manifest_raw: bytes | None, entries: Iterable[Mapping[str, JSON]],
             spec_version: str = SPEC_VERSION, pins: Mapping[str, Pin] | None = None
             ) -> SuiteIdentity:
    """The identity of a suite from its manifest bytes and entries (``path``, ``sha256``)."""
    pin = (load_pins() if pins is None else pins).get(spec_version)
    digest = hashlib.sha256(manifest_raw).hexdigest() if manifest_raw is not None else None
    listed = [(str(e.get("path")), str(e.get("sha256"))) for e in entries]
    if pin is None:
        return SuiteIdentity(UNPUBLISHED, spec_version, digest, None, len(listed), 0)
    foreign = tuple(p for p, h in listed if pin.files.get(p) != h)
    if digest == pin.manifest_sha256:
        kind = PUBLISHED
    elif listed and not foreign:
        kind = SUBSET
    else:
        kind = UNPUBLISHED
    return SuiteIdentity(kind, spec_version, digest, pin.manifest_sha256, len(listed),
                         len(pin.files), foreign[:20])


def pin_of(manifest_raw: bytes) -> dict[str, JSON]:
    """The pin of a (verified) manifest: its SHA-256 and its files' paths and SHA-256."""
    manifest = strictjson.loads(manifest_raw)
    return {"files": {str(e["path"]): str(e["sha256"]) for e in manifest["files"]},
            "manifest_sha256": hashlib.sha256(manifest_raw).hexdigest()}


def pin_text(manifest_raw: bytes, spec_version: str = SPEC_VERSION,
             path: Path = PIN_FILE) -> str:
    """``published.json`` with the pin of ``spec_version`` set to ``manifest_raw``'s (the
    pins of other spec versions kept)."""
    try:
        data = strictjson.loads(path.read_bytes())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data[spec_version] = pin_of(manifest_raw)
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=True) + "\n"
