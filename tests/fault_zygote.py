"""A fork server for the kill -9 tests: it imports the product once, then forks one real
`smart-support serve` process per request, as gunicorn's `--preload` does.

Why: the kill tests start a server process for every run (50+ per module), and most of a
start is importing the product (seconds of CPU on a busy 2-core machine). A child forked
after the imports runs the very CLI entry point (`smart_support.cli.main`, `serve`) in a
process of its own, opens its own database connections and sockets, and dies of a real
SIGKILL; only the import work is shared. Nothing runs before the fork but imports: no thread,
no event loop, no connection (checked at each fork).

Run as ``python fault_zygote.py`` with the servers' environment (settings are read after the
fork, but some modules read variables at import: SMART_SUPPORT_FAILPOINTS among them). One JSON
request a line on stdin, one JSON answer a line on stdout:

- ``{"start": [args...], "log": PATH}`` -> ``{"pid": N}``: fork, stderr to PATH, run
  ``smart-support args...``;
- ``{"wait": N, "timeout": S}`` -> ``{"status": CODE}``: reap child N (as `Popen.returncode`:
  -9 for SIGKILL), or ``{"status": null}`` if it is still alive after S seconds.

End of input kills and reaps the children left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time

# What `serve` loads on its way to listening, loaded once here.
import smart_support.cli
import smart_support.demo.tools
import smart_support.runtime.engine
import smart_support.server
import smart_support.server.app
import smart_support.store.postgres

children: set[int] = set()


def start(args: list[str], log: str) -> int:
    if threading.active_count() != 1:
        raise RuntimeError(f"{threading.active_count()} threads before fork: not safe")
    sys.stdout.flush()
    pid = os.fork()
    if pid:
        children.add(pid)
        return pid
    try:  # the child: a server process of its own
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        os.close(null)
        os.close(err)
        sys.argv = ["smart-support", *args]
        smart_support.cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    os._exit(code)


def wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if "start" in request:
            answer: dict[str, int | None] = {"pid": start(request["start"], request["log"])}
        else:
            answer = {"status": wait(int(request["wait"]), float(request["timeout"]))}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait(pid, 30)


if __name__ == "__main__":
    main()
