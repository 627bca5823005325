"""A child process that speaks lines on its stdin and stdout, with every wait bounded
(spec/11-backend-protocol.md, "Details of the JSON-lines protocol").

:class:`LineProcess` owns one child: it starts it in its own session (so the whole
process group can be killed), writes request lines with a deadline, reads answer
lines with a deadline, and keeps a bounded tail of its stderr.  Everything runs in
the calling thread over non-blocking pipes and one selector: no reader threads, no
pickling, nothing left blocked when the child (or a grandchild that kept a copy of
its stdout) never writes again.

Bounds, all from :class:`ProcessLimits`:

- a line longer than ``max_line`` bytes is not kept: :meth:`LineProcess.read_line`
  reports it as ``overlong`` as soon as the limit is passed (a port streaming
  without a newline cannot grow the caller's memory), and its remaining bytes up to
  the next newline are discarded;
- at most ``max_pending`` bytes of complete lines wait to be read; past that the
  child's stdout is not read until the caller consumes lines (a pipelining caller
  keeps its requests in flight bounded);
- the last ``stderr_keep`` bytes of stderr are kept;
- :meth:`LineProcess.close` waits at most ``shutdown_s`` for the child to exit after
  its stdin is closed, then kills the process group and waits at most ``shutdown_s``
  more for the leader; the pipes are closed whatever happened.

A grandchild that called ``setsid`` has left the process group and cannot be
killed from here; it can only keep a copy of the pipes open.  Reads are bounded by
time and the pipes are closed on :meth:`LineProcess.close`, so it cannot hold the
caller.

Typical use (one request, one answer)::

    with LineProcess.spawn(["./port", "--serve"], ProcessLimits()) as child:
        if child.send_line(b'{"id": "x", ...}', timeout=30) == "sent":
            got = child.read_line(timeout=30)   # got.kind: line | overlong | eof | timeout
        print(child.stderr_tail(), child.status())

A pipelining caller may send several lines before reading; answers it has not read
yet are buffered (up to ``max_pending`` bytes) while it writes, so a child that
writes its answers before reading more requests never deadlocks the two.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

CHUNK = 64 * 1024
"""Bytes read from a pipe at a time."""

EXIT_POLL = 0.1
"""Seconds between checks, while waiting for a line, whether the child has exited."""

EXIT_GRACE = 0.2
"""Seconds the pipe is still read after the child exited (a grandchild may hold it open)."""

SendStatus = Literal["sent", "closed", "timeout"]
"""Outcome of :meth:`LineProcess.send_line`: written in full, the child's stdin is closed
(it exited or closed it), or the deadline passed with the line partly written."""


@dataclass(frozen=True)
class ProcessLimits:
    """Bounds on what a child can make the caller hold or wait for."""

    max_line: int = 4 * 1024 * 1024
    """Bytes of one line on stdout (without its newline)."""
    max_pending: int = 16 * 1024 * 1024
    """Bytes of complete stdout lines buffered before the caller reads them."""
    stderr_keep: int = 64 * 1024
    """Bytes of the end of stderr kept."""
    shutdown_s: float = 2.0
    """Seconds :meth:`LineProcess.close` waits for an exit after closing stdin, and again
    after killing the group."""

    def __post_init__(self) -> None:
        for name in ("max_line", "max_pending", "stderr_keep"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ProcessLimits.{name}: expected a positive integer, "
                                 f"got {value!r}")
        if self.max_pending < self.max_line:
            raise ValueError("ProcessLimits.max_pending: must be at least max_line "
                             f"({self.max_line}), got {self.max_pending}")
        if not 0 <= self.shutdown_s < float("inf"):
            raise ValueError(f"ProcessLimits.shutdown_s: expected a finite number >= 0, "
                             f"got {self.shutdown_s!r}")


@dataclass(frozen=True)
class Line:
    """What :meth:`LineProcess.read_line` got.

    ``kind`` is ``line`` (``data`` holds it, without ``\\n``), ``overlong`` (a line passed
    ``max_line``; ``size`` is how many bytes had come when it was given up), ``eof`` (the
    child closed its stdout: it exited or will not answer again) or ``timeout`` (nothing
    complete within the time; ``size`` is the bytes of an unfinished line received so far).
    """

    kind: Literal["line", "overlong", "eof", "timeout"]
    data: bytes = b""
    size: int = 0


class StartError(OSError):
    """The child could not be started (the message names the program)."""


def _signal_name(num: int) -> str:
    with contextlib.suppress(ValueError):
        return signal.Signals(num).name
    return f"signal {num}"


class LineProcess:
    """One child process with line I/O; not thread-safe (one caller thread at a time).

    Make one with :meth:`spawn` (a command) or :meth:`fork` (a Python callable run in a
    forked child whose fds 0, 1 and 2 are the pipes).
    """

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int, limits: ProcessLimits,
                 popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.limits = limits
        self._popen = popen
        self._stdin: int | None = stdin
        self._stdout: int | None = stdout
        self._stderr: int | None = stderr
        for fd in (stdin, stdout, stderr):
            os.set_blocking(fd, False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(stdout, selectors.EVENT_READ, "stdout")
        self._sel.register(stderr, selectors.EVENT_READ, "stderr")
        self._stdout_paused = False
        self._buf = bytearray()
        self._discarding = False
        self._lines: collections.deque[Line] = collections.deque()
        self._pending = 0
        self._eof = False
        self._err: collections.deque[bytes] = collections.deque()
        self._err_len = 0
        self.stderr_total = 0
        """Bytes the child wrote to stderr so far (a mark for :meth:`stderr_since`)."""
        self.returncode: int | None = None
        self._group_killed = False

    # --- making one -----------------------------------------------------------------

    @classmethod
    def spawn(cls, argv: Sequence[str], limits: ProcessLimits,
              env: dict[str, str] | None = None, cwd: str | None = None) -> LineProcess:
        """Start ``argv`` (no shell) in a new session; :class:`StartError` if it cannot run."""
        try:
            popen = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, bufsize=0,
                                     env=env, cwd=cwd)
        except OSError as exc:
            raise StartError(exc.errno or errno.EIO,
                             f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        # the fds are owned from here on; the file objects are dropped without closing them
        fds = [os.dup(s.fileno()) for s in (popen.stdin, popen.stdout, popen.stderr)]
        for s in (popen.stdin, popen.stdout, popen.stderr):
            s.close()
        popen.stdin = popen.stdout = popen.stderr = None
        return cls(popen.pid, fds[0], fds[1], fds[2], limits, popen)

    @classmethod
    def fork(cls, target: Callable[[], int], limits: ProcessLimits) -> LineProcess:
        """Run ``target()`` in a forked child (new session; its stdin, stdout and stderr
        are the pipes); the child exits with the returned status, or 70 if it raised.

        The child is a copy of the caller at this moment, so nothing it does (exit, hang,
        change state) reaches the caller.  Fork only from a process whose other threads
        hold no locks the child needs (POSIX; not available on Windows)."""
        rin, win = os.pipe()
        rout, wout = os.pipe()
        rerr, werr = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its exit status is what the parent sees
            status = 70
            try:
                os.setsid()
                os.dup2(rin, 0)
                os.dup2(wout, 1)
                os.dup2(werr, 2)
                for fd in (rin, win, rout, wout, rerr, werr):
                    os.close(fd)
                # the caller's streams may be replaced (a test harness's captures): use the pipes
                sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
                status = target()
            except BaseException:
                with contextlib.suppress(BaseException):
                    import traceback
                    traceback.print_exc()
            finally:
                with contextlib.suppress(BaseException):
                    os.close(1)
                os._exit(status if isinstance(status, int) else 70)
        for fd in (rin, wout, werr):
            os.close(fd)
        return cls(pid, win, rout, rerr, limits)

    # --- state ----------------------------------------------------------------------

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs.

        The leader is reaped here; :meth:`close` kills its group first, so the group id
        cannot be reused by an unrelated process before the kill."""
        if self.returncode is None:
            if self._popen is not None:
                self.returncode = self._popen.poll()
            else:
                with contextlib.suppress(ChildProcessError):
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                    if pid == self.pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def _exited_unreaped(self) -> bool:
        """Whether the leader has exited, without reaping it (so its pid and group id stay
        reserved until the group is killed)."""
        if self.returncode is not None:
            return True
        waitid = getattr(os, "waitid", None)
        if waitid is None:  # no WNOWAIT here: reaping is the only way to ask
            return self.poll() is not None
        try:
            info = waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.poll() is not None
        return info is not None

    def status(self) -> str:
        """A description for messages: ``still running (pid N)``, ``exited with status N``
        or ``was killed by SIGNAME``; never a status of a live process."""
        rc = self.poll()
        if rc is None:
            return f"still running (pid {self.pid})"
        if rc < 0:
            return f"was killed by {_signal_name(-rc)}"
        return f"exited with status {rc}"

    @property
    def partial_bytes(self) -> int:
        """Bytes of an unfinished stdout line received so far (no newline yet)."""
        return len(self._buf)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` or :meth:`kill` has run."""
        return self._stdout is None

    def stderr_tail(self) -> str:
        """The last ``stderr_keep`` bytes of stderr, decoded (invalid UTF-8 replaced)."""
        return b"".join(self._err).decode("utf-8", errors="replace")

    def stderr_since(self, mark: int) -> str:
        """What stderr received after :attr:`stderr_total` was ``mark`` (within the tail)."""
        new = self.stderr_total - mark
        if new <= 0:
            return ""
        return b"".join(self._err)[-new:].decode("utf-8", errors="replace")

    # --- I/O ------------------------------------------------------------------------

    def _take_stderr(self, data: bytes) -> None:
        self.stderr_total += len(data)
        keep = self.limits.stderr_keep
        if len(data) >= keep:
            self._err.clear()
            self._err.append(data[-keep:])
            self._err_len = keep
            return
        self._err.append(data)
        self._err_len += len(data)
        while self._err_len > keep:
            head = self._err.popleft()
            over = self._err_len - keep
            if len(head) > over:
                self._err.appendleft(head[over:])
                self._err_len -= over
            else:
                self._err_len -= len(head)

    def _push(self, line: Line) -> None:
        self._lines.append(line)
        self._pending += len(line.data)

    def _take_stdout(self, data: bytes) -> None:
        limit = self.limits.max_line
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl
            if self._discarding:
                if nl >= 0:
                    self._discarding = False
            else:
                self._buf += data[start:end]
                if len(self._buf) > limit:
                    self._push(Line("overlong", size=len(self._buf)))
                    self._buf = bytearray()
                    self._discarding = nl < 0
                elif nl >= 0:
                    self._push(Line("line", bytes(self._buf)))
                    self._buf = bytearray()
            start = end + 1 if nl >= 0 else len(data)
        self._update_pause()

    def _update_pause(self) -> None:
        if self._stdout is None:
            return
        want_pause = self._pending >= self.limits.max_pending
        if want_pause and not self._stdout_paused:
            self._sel.unregister(self._stdout)
            self._stdout_paused = True
        elif not want_pause and self._stdout_paused and not self._eof:
            self._sel.register(self._stdout, selectors.EVENT_READ, "stdout")
            self._stdout_paused = False

    def _drop(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(fd)

    def _pump(self, timeout: float | None, write_fd: int | None = None) -> bool:
        """Wait up to ``timeout`` (None: no limit) for the pipes; read what is readable.
        Returns whether ``write_fd`` became writable."""
        if write_fd is not None:
            self._sel.register(write_fd, selectors.EVENT_WRITE, "stdin")
        writable = False
        try:
            if not self._sel.get_map():
                if timeout is None:
                    raise RuntimeError("LineProcess: waiting on nothing without a timeout")
                time.sleep(max(0.0, timeout))
                return False
            for key, _ in self._sel.select(timeout):
                if key.data == "stdin":
                    writable = True
                    continue
                fd = key.fd
                size = CHUNK
                if key.data == "stdout":  # never past max_pending buffered lines
                    size = max(1, min(CHUNK, self.limits.max_pending - self._pending))
                try:
                    data = os.read(fd, size)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if key.data == "stdout":
                    if data:
                        self._take_stdout(data)
                    else:
                        self._eof = True
                        self._drop(fd)
                elif data:
                    self._take_stderr(data)
                else:
                    self._drop(fd)
        finally:
            if write_fd is not None:
                self._drop(write_fd)
        return writable

    @staticmethod
    def _left(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def send_line(self, data: bytes, timeout: float | None) -> SendStatus:
        """Write ``data`` and a newline to the child's stdin within ``timeout`` seconds
        (None: no limit); stdout and stderr are read meanwhile (into the bounded buffers)."""
        return self.send_lines((data,), timeout)

    def send_lines(self, lines: Sequence[bytes], timeout: float | None) -> SendStatus:
        """Write several lines in as few writes as the pipe allows (a pipelining caller's
        block of requests); ``timeout`` bounds the whole; stdout and stderr are read
        meanwhile.  After ``closed`` or ``timeout`` it is unknown how many of the lines
        were read."""
        if any(b"\n" in line for line in lines):
            raise ValueError("send_line: a line must not contain a newline")
        if self._stdin is None:
            return "closed"
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(b"\n".join(lines) + b"\n")
        while view:
            try:
                n = os.write(self._stdin, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except (BrokenPipeError, OSError):
                return "closed"
            left = self._left(deadline)
            if left == 0.0:
                return "timeout"
            self._pump(left, self._stdin)
        return "sent"

    def read_line(self, timeout: float | None) -> Line:
        """The next stdout line within ``timeout`` seconds (None: no limit); see :class:`Line`.

        A line already buffered is returned at once; after ``eof`` every call returns eof.
        Once the child itself has exited, what is left in the pipe is read for up to
        :data:`EXIT_GRACE` seconds and then ``eof`` is returned even if a process it left
        behind still holds its stdout open."""
        deadline = None if timeout is None else time.monotonic() + timeout
        exited_at: float | None = None
        while True:
            if self._lines:
                line = self._lines.popleft()
                self._pending -= len(line.data)
                self._update_pause()
                return line
            if self._eof or self._stdout is None:
                return Line("eof")
            now = time.monotonic()
            if exited_at is None and self._exited_unreaped():
                exited_at = now
            if exited_at is not None and now - exited_at >= EXIT_GRACE:
                self._eof = True
                self._drop(self._stdout)
                return Line("eof")
            left = self._left(deadline)
            if left == 0.0:
                return Line("timeout", size=len(self._buf))
            self._pump(EXIT_POLL if left is None else min(left, EXIT_POLL))

    def drain_stderr(self, timeout: float) -> None:
        """Read stderr (and buffer stdout) for up to ``timeout`` seconds or until both end."""
        deadline = time.monotonic() + timeout
        while self._sel.get_map() and (left := self._left(deadline)):
            self._pump(left)

    def close_stdin(self) -> None:
        """Close the child's stdin (end of input: a protocol's request to exit)."""
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                os.close(self._stdin)
            self._stdin = None

    # --- ending ---------------------------------------------------------------------

    def _wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the leader to exit (not reaping it); stderr is read
        meanwhile so a child writing its last words is not blocked on a full pipe."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not self._exited_unreaped():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._stderr is not None and self._sel.get_map():
                self._pump(min(delay, left))
            else:
                time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return True

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the child to exit; its status, or None."""
        self._wait(timeout)
        return self.poll()

    def kill(self) -> None:
        """Kill the whole process group at once and release everything (bounded)."""
        self._end(grace=0.0)

    def close(self) -> None:
        """End politely: close stdin, give the child ``shutdown_s`` to exit, then kill the
        process group (background children included) and close the pipes.  Bounded."""
        self._end(grace=self.limits.shutdown_s)

    def _end(self, grace: float) -> None:
        if self.closed:
            return
        self.close_stdin()
        if grace > 0:
            self._wait(grace)
        if not self._group_killed:
            # the group outlives its leader when background children hold on; the leader is
            # not reaped yet, so its group id still names this group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self._group_killed = True
            if not self._exited_unreaped():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        self._wait(self.limits.shutdown_s)
        self.poll()
        for fd in (self._stdout, self._stderr):
            if fd is not None:
                self._drop(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._stdout = self._stderr = None
        self._sel.close()

    def __enter__(self) -> LineProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self.closed:
                self.kill()
