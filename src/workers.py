"""Several gateway processes on one listening socket: a supervisor that forks the workers.

The parent binds the socket (and starts the embedded Redis, if any) before forking, so
every worker accepts connections on the same port, and the kernel spreads them. Each worker
runs its own event loop and creates its own storage: the storage registry starts empty in
a forked child, and every worker's startup checks that it holds exactly one.

Signals: Ctrl-C or SIGTERM reach the parent, which passes SIGTERM on to every worker (a
second one makes them stop waiting for open requests). Workers ignore SIGINT: the terminal
sends it to the whole process group, and a worker must count one stop request, not two.
A worker that exits on its own stops the others; the parent then exits with status 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_workers(count: int, work: Callable[[int], int]) -> int:
    """Run `work(index)` in `count` forked processes until they all exit; 0 if every one
    returned 0 after a stop was asked for, else 1.

    `work` runs in the child and returns its exit status; the child never returns into
    the parent's code (its `finally` blocks and context managers belong to the parent).
    """
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        for index in range(count):
            # Blocked across the fork: a child must not run the parent's handler.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            pid = os.fork()
            if pid == 0:
                _child(index, work)
            children[pid] = index
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            if stopping:  # asked before this child existed
                stop(signal.SIGTERM)
        failed = False
        while children:
            pid, status = os.wait()
            children.pop(pid, None)
            if os.waitstatus_to_exitcode(status) != 0 or not stopping:
                failed = True
                if not stopping:
                    stop(signal.SIGTERM)
        return 1 if failed else 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _child(index: int, work: Callable[[int], int]) -> NoReturn:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        code = work(index)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _signal(pid: int, signum: int) -> None:
    # A child that exited already is collected by `os.wait()`.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
