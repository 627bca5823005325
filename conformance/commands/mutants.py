"""``sorbet-ref mutants``: every mutant of the catalog against the vectors (docs/mutants.md).

Prints the kill table (mutant, operator, bug class, vectors of its operator that
killed it, the first killing vector, description) and exits 1 if any mutant
survives or the vectors could not be loaded cleanly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from conformance.mutants import catalog as M
from conformance.vectors.manifest import default_vectors_dir


def register(sub: Any) -> None:
    """Add the ``mutants`` subcommand."""
    p = sub.add_parser(
        "mutants",
        help="run the mutant catalog (plausible port bugs) against the vectors; "
             "fail if one survives",
        description="Run every mutant of the catalog (docs/mutants.md) against the "
                    "vectors and print the kill table; exit 1 if any mutant survives.",
    )
    p.add_argument("--vectors", type=Path, default=None,
                   help="vectors directory with its manifest (default: the committed vectors/)")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    p.add_argument("--list", action="store_true", help="list the catalog and exit")
    p.add_argument("--doc", action="store_true",
                   help="print docs/mutants.md (generated from the catalog) and exit")
    p.add_argument("--search", action="store_true",
                   help="for each survivor, search (Hypothesis) an input that kills it")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the table as JSON")
    p.set_defaults(handler=run)


def _list() -> int:
    width = max(len(m.id) for m in M.CATALOG)
    for m in M.CATALOG:
        print(f"{m.id:<{width}}  {m.op:<13}  {m.bug_class:<20}  {m.description}")
    print(f"\n{len(M.CATALOG)} mutants")
    return 0


def _row_json(r: M.KillRow) -> dict[str, Any]:
    return {"id": r.mutant.id, "op": r.mutant.op, "bug_class": r.mutant.bug_class,
            "description": r.mutant.description, "vectors": r.vectors, "kills": r.kills,
            "first_kill": r.first_kill, "survived": r.survived}


def run(args: argparse.Namespace) -> int:
    """Print the kill table; 0 only if every selected mutant is killed."""
    if args.doc:
        sys.stdout.write(M.render_doc())
        return 0
    if args.list:
        return _list()
    try:
        chosen = [M.get_mutant(i) for i in args.only] if args.only else list(M.CATALOG)
    except KeyError as exc:
        print(f"sorbet-ref mutants: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.vectors is None:
        args.vectors = default_vectors_dir()
    width = max(len(m.id) for m in chosen)
    head = (f"{'mutant':<{width}}  {'operator':<13}  {'bug class':<20}  {'killed by':>9}  "
            f"{'first killing vector':<36}  description")
    print(f"sorbet-ref mutants: {len(chosen)} mutants against {args.vectors}\n")
    print(head)
    print("-" * len(head))
    start = time.monotonic()

    def show(r: M.KillRow) -> None:
        killed = f"{r.kills}/{r.vectors}"
        first = r.first_kill or "SURVIVED"
        print(f"{r.mutant.id:<{width}}  {r.mutant.op:<13}  {r.mutant.bug_class:<20}  "
              f"{killed:>9}  {first:<36}  {r.mutant.description}", flush=True)

    rows = M.kill_table(args.vectors, [m.id for m in chosen], progress=show)
    problems = sorted({p for r in rows for p in r.problems})
    survivors = [r for r in rows if r.survived]
    print(f"\n{len(rows) - len(survivors)}/{len(rows)} mutants killed "
          f"({time.monotonic() - start:.1f} s)")
    for p in problems:
        print(f"problem: {p}")
    for r in survivors:
        print(f"SURVIVOR {r.mutant.id} ({r.mutant.op}): {r.mutant.description}; "
              f"{r.vectors} vector(s) of its operator ran, none failed")
        if args.search:
            w = M.find_witness(r.mutant)
            print("  killing input: " + (M.witness_json(w) if w else "none found by the search"))
    if args.json:
        args.json.write_text(json.dumps({
            "vectors_dir": str(args.vectors), "problems": problems,
            "mutants": [_row_json(r) for r in rows],
        }, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 1 if survivors or problems else 0
