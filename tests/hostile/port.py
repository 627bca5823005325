#!/usr/bin/env python3
"""A hostile JSON-lines port for tests/test_hostile.py (the catalog is docs/hostile-inputs.md).

Usage: port.py MODE [TARGET_ID]

Answers like the reference, except where MODE says otherwise; the misbehaviour hits
the vector TARGET_ID, or every vector when TARGET_ID is omitted or "*".

Processes left behind:
- background:    starts a child (in the port's process group) that sleeps 300 s holding
                 stdout, and exits at end of input
- setsid_exit:   starts a setsid grandchild holding stdout, then exits (status 5) on the target
- setsid_daemon: starts a setsid grandchild holding stdout, serves, ignores end of input
- linger:        serves, then ignores end of input (sleeps 300 s)
Start-up:
- startup_fail:  writes an error to stderr and exits with status 1 at once
Streams:
- endless:       writes bytes without a newline, forever, on the target
- flood:         writes 20000 short lines on the target (out of step)
- noflush:       answers without flushing stdout (block buffered)
- stderr_flood:  writes 5 MB to stderr before each answer
- huge_message:  rejects with a 1 MB message
Answers that break spec/11:
- no_id, both, extra_key, int_id, reject_number, outputs_list, bigint, deep, not_utf8
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from conformance.operators import run_reference

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]


def reply_for(req: dict[str, object]) -> dict[str, object]:
    res = run_reference(str(req["op"]), req["config"], req["inputs"])  # type: ignore[arg-type]
    if "reject" in res:
        return {"id": req["id"], "reject": res["reject"]}
    return {"id": req["id"], "outputs": res["outputs"]}


def hostile(mode: str, reply: dict[str, object]) -> bytes | None:
    """The bytes of a spec-breaking answer line for ``mode`` (None: not such a mode)."""
    rid = reply["id"]
    outputs = reply.get("outputs", {})
    table: dict[str, object] = {
        "no_id": {k: v for k, v in reply.items() if k != "id"},
        "both": {"id": rid, "outputs": outputs, "reject": "range"},
        "extra_key": {**reply, "debug": "x"},
        "int_id": {**reply, "id": 7},
        "reject_number": {"id": rid, "reject": 3},
        "outputs_list": {"id": rid, "outputs": [1, 2]},
    }
    if mode in table:
        return json.dumps(table[mode]).encode()
    if mode == "bigint":
        return b'{"id": "%s", "outputs": {"spikes": [1%s]}}' % (str(rid).encode(), b"0" * 5000)
    if mode == "deep":
        return b'{"id": "%s", "outputs": {"spikes": %s1%s}}' % (
            str(rid).encode(), b"[" * 100000, b"]" * 100000)
    if mode == "not_utf8":
        return b'{"id": "%s", "reject": "\xff\xfe"}' % str(rid).encode()
    return None


def main() -> int:
    mode = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) > 2 else "*"
    out = sys.stdout.buffer
    if mode == "startup_fail":
        sys.stderr.write("port: cannot open /dev/accel0: no such device\n")
        return 1
    if mode in ("background", "setsid_exit", "setsid_daemon"):
        helper = subprocess.Popen(SLEEPER, start_new_session=mode != "background")
        sys.stderr.write(f"helper pid {helper.pid}\n")
        sys.stderr.flush()
    if mode == "noflush":
        out = open(1, "wb", buffering=1 << 20, closefd=False)  # noqa: SIM115
    for line in sys.stdin.buffer:
        req = json.loads(line)
        hit = target in ("*", req["id"])
        reply = reply_for(req)
        if hit and mode == "setsid_exit":
            return 5
        if hit and mode == "endless":
            chunk = b"x" * 65536
            while True:
                out.write(chunk)
                out.flush()
        if hit and mode == "flood":
            out.write(b"noise\n" * 20000)
        if hit and mode == "stderr_flood":
            sys.stderr.write("e" * (5 * 1024 * 1024) + "\n")
            sys.stderr.flush()
        if hit and mode == "huge_message":
            reply = {"id": reply["id"], "reject": "range", "message": "m" * (1024 * 1024)}
        raw = hostile(mode, reply) if hit else None
        out.write((raw if raw is not None else json.dumps(reply).encode()) + b"\n")
        if mode != "noflush":
            out.flush()
    if mode in ("linger", "setsid_daemon"):
        time.sleep(300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
