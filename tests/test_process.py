"""LineProcess (conformance/runner/process.py): every wait bounded, every buffer bounded,
the whole process group killed, honest status text."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from conformance.runner.process import LineProcess, ProcessLimits
from tests.support import gone_soon

SMALL = ProcessLimits(max_line=1024, max_pending=4096, stderr_keep=256, shutdown_s=1.0)


def child(code: str, limits: ProcessLimits = SMALL) -> LineProcess:
    return LineProcess.spawn([sys.executable, "-c", code], limits)


ECHO = ("import sys\nfor line in sys.stdin:\n"
        "    sys.stdout.write('got ' + line); sys.stdout.flush()\n")


def test_lines_round_trip_and_end_of_input() -> None:
    with child(ECHO) as p:
        assert p.status().startswith("still running (pid ")
        assert p.send_line(b"one", 5) == "sent"
        assert p.read_line(5).data == b"got one"
        p.close_stdin()
        assert p.read_line(5).kind == "eof"
        assert p.wait_exit(5) == 0
        assert p.status() == "exited with status 0"


def test_overlong_line_is_reported_at_the_limit_and_skipped() -> None:
    code = ("import sys, time\nsys.stdout.write('x' * 5000 + '\\nnext\\n'); sys.stdout.flush()\n"
            "sys.stdout.write('y' * 100000); sys.stdout.flush(); time.sleep(30)\n")
    with child(code) as p:
        first = p.read_line(5)
        assert first.kind == "overlong" and first.size > SMALL.max_line
        assert p.read_line(5).data == b"next"
        streaming = p.read_line(5)  # no newline ever: reported once the limit is passed
        assert streaming.kind == "overlong"
        assert p.read_line(0.2).kind == "timeout"
        assert p.partial_bytes == 0  # the rest is discarded, not kept


def test_timeout_reports_an_unfinished_line() -> None:
    code = "import sys, time\nsys.stdout.write('partial'); sys.stdout.flush(); time.sleep(30)\n"
    with child(code) as p:
        got = p.read_line(0.5)
        assert got.kind == "timeout" and got.size == len("partial")


def test_stderr_tail_is_bounded() -> None:
    code = "import sys\nsys.stderr.write('e' * 100000 + 'END'); sys.stderr.flush()\n"
    with child(code) as p:
        assert p.read_line(5).kind == "eof"
        p.drain_stderr(2)
        tail = p.stderr_tail()
        assert len(tail) == SMALL.stderr_keep and tail.endswith("END")
        assert p.stderr_total == 100003
        assert p.stderr_since(p.stderr_total - 3) == "END"


def test_write_times_out_when_the_child_does_not_read() -> None:
    with child("import time\ntime.sleep(30)\n") as p:
        assert p.send_line(b"z" * (4 * 1024 * 1024), 0.5) == "timeout"


def test_write_to_an_exited_child_is_closed() -> None:
    with child("pass") as p:
        p.wait_exit(5)
        assert p.send_line(b"x" * 200000, 5) == "closed"


def test_background_child_holding_stdout_is_killed_with_the_group() -> None:
    code = ("import subprocess, sys\n"
            "bg = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
            "print(bg.pid, flush=True)\n"
            "sys.stdin.read()\n")
    p = child(code)
    bg = int(p.read_line(10).data)
    p.close()  # stdin closed: the leader exits, the background child still holds stdout
    assert gone_soon(bg)
    assert p.closed and p.status() == "exited with status 0"


def test_setsid_grandchild_cannot_hold_the_reader() -> None:
    """A grandchild in its own session keeps stdout open after the leader exits: the reader
    reports end of output shortly after the exit instead of waiting for it."""
    code = ("import os, subprocess, sys\n"
            "gc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],\n"
            "                      start_new_session=True)\n"
            "print(gc.pid, flush=True)\n"
            "os._exit(4)\n")
    p = child(code)
    gc = int(p.read_line(10).data)
    try:
        assert p.read_line(60).kind == "eof"  # not "timeout": the exit ended the wait
        assert p.status() == "exited with status 4"
        p.close()
        assert p.closed
    finally:
        os.kill(gc, signal.SIGKILL)


def test_killed_status_names_the_signal() -> None:
    p = child("import time\ntime.sleep(30)\n")
    p.kill()
    assert p.status() == "was killed by SIGKILL"


def test_pending_lines_are_bounded_while_nobody_reads() -> None:
    code = "import sys\nfor i in range(100000):\n    sys.stdout.write('%099d\\n' % i)\n"
    with child(code) as p:
        p.drain_stderr(1.0)  # reads stdout too, until the pending bound stops it
        assert p._pending <= SMALL.max_pending + SMALL.max_line
        lines = [p.read_line(5) for _ in range(200)]
        assert all(x.kind == "line" for x in lines)
        assert lines[0].data == b"%099d" % 0 and lines[-1].data == b"%099d" % 199


def test_fork_runs_a_callable_in_its_own_session() -> None:
    def target() -> int:
        line = sys.stdin.readline().encode()
        os.write(1, b"pid " + str(os.getsid(0)).encode() + b" " + line)
        return 7

    p = LineProcess.fork(target, SMALL)
    assert p.send_line(b"hello", 5) == "sent"
    got = p.read_line(5).data.split()
    assert got[0] == b"pid" and int(got[1]) == p.pid and got[2] == b"hello"
    assert p.wait_exit(5) == 7
    p.close()


@pytest.mark.parametrize("bad", [{"max_line": 0}, {"max_pending": 10, "max_line": 100},
                                 {"shutdown_s": -1.0}])
def test_limits_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="ProcessLimits"):
        ProcessLimits(**bad)  # type: ignore[arg-type]
