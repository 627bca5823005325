#!/usr/bin/env python3
"""A deliberately faulty JSON-lines backend for tests/test_bad_input.py.

Usage: faulty.py MODE [TARGET_ID]

Answers like the reference, except on the vector TARGET_ID (every vector when
TARGET_ID is omitted or "*"), where MODE decides what goes wrong:

- crash:    exit with status 3 without answering
- hang:     never answer
- garbage:  print a line that is not JSON
- wrong_id: answer with another id
- shape:    drop the last element of every list output
- fewer:    leave out the normative outputs (keep only the profile ones)
- float:    turn the first element of each list output into a float
- stateful: add the number of earlier requests to the first output value
- banner:   print a start-up line on stdout before serving (TARGET_ID ignored)
- exit_after: TARGET_ID is a number N; exit with status 0 after N answers
- bom_crlf: answer every vector correctly, the first line with a UTF-8 byte order mark,
            every line ended by CR LF (as some Windows runtimes write)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from conformance.operators import OPS, run_reference


def main() -> int:
    mode = sys.argv[1]
    target = sys.argv[2] if len(sys.argv) > 2 else "*"
    if mode == "banner":
        sys.stdout.write("faulty backend 1.0 ready\n")
        sys.stdout.flush()
    if mode == "bom_crlf":
        sys.stdout.reconfigure(newline="\r\n")  # type: ignore[attr-defined]
        sys.stdout.write("\ufeff")
    for seen, line in enumerate(sys.stdin):
        if mode == "exit_after" and seen >= int(target):
            return 0
        req = json.loads(line)
        rid = req["id"]
        hit = target in ("*", rid)
        res = run_reference(req["op"], req["config"], req["inputs"])
        if "reject" in res:
            reply: dict[str, object] = {"id": rid, "reject": res["reject"]}
        else:
            outputs = res["outputs"]
            if hit and mode == "shape":
                outputs = {k: v[:-1] if isinstance(v, list) else v for k, v in outputs.items()}
            elif hit and mode == "fewer":
                outputs = {k: v for k, v in outputs.items() if k not in OPS[req["op"]].outputs}
            elif hit and mode == "float":
                outputs = {k: [float(v[0]), *v[1:]] if isinstance(v, list) and v else v
                           for k, v in outputs.items()}
            elif hit and mode == "stateful" and seen:
                first = OPS[req["op"]].outputs[0]
                v = outputs[first]
                outputs[first] = [v[0] + seen, *v[1:]] if isinstance(v, list) else v + seen
            reply = {"id": rid, "outputs": outputs}
        if hit and mode == "crash":
            sys.stderr.write(f"faulty backend: crashing on {rid}\n")
            sys.stderr.flush()
            return 3
        if hit and mode == "hang":
            sys.stdin.read()  # blocks until the runner kills us
            return 0
        if hit and mode == "garbage":
            sys.stdout.write("Segmentation fault (core dumped) ;-)\n")
        elif hit and mode == "wrong_id":
            sys.stdout.write(json.dumps({**reply, "id": rid + "x"}) + "\n")
        else:
            sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
