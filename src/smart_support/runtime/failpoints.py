"""Fail points: named places where a test can make this process die, as FreeBSD's fail(9) and
TiKV's fail-rs allow, to prove that an approved write survives a crash at any step around it.

`failpoint("after_intent")` does nothing in production: unless the environment variable
SMART_SUPPORT_FAILPOINTS was set when this module was imported, the call is one test of a
module-level constant. When it names a file, each call reads that file (a stat and a read of a
few bytes: fail points sit on the rare path of an approved write, never on a hot loop) and, if
one of its lines is the point's name, the process kills itself with SIGKILL: no `finally`, no
`atexit`, no flush of anything but the one log line that says where it died. That is what a
power cut, the OOM killer or `kill -9` do, and the only crash a test can trust: an exception
would run the very cleanup code whose absence is being tested.

The file is read at every hit, not once, so a test arms and disarms a running process by
rewriting it (replace it atomically, e.g. write a temporary file and `os.replace` it, so a hit
never reads half a file). A missing or unreadable file arms nothing.

The points (each placed where the state a restart finds differs from the step before):

- ``after_decision``: the customer's or operator's decision is stored, the paused step not
  resumed (`Engine._decision`);
- ``after_intent``: the action ledger holds the intent of an approved call, the tool not called
  (`approvals.run_once`);
- ``after_call``: the tool returned, its result not yet in the ledger (`approvals.run_once`).

"During the tool call" needs no point here: the API the tool calls is the place to kill it
from (tests/test_fault_kill.py). docs/operations.md has the operator's side.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("smart_support.failpoints")

#: The environment variable that names the file of armed fail points.
ENV = "SMART_SUPPORT_FAILPOINTS"
#: Read once at import: with the variable unset, a fail point costs one comparison.
_FILE = os.environ.get(ENV) or None
#: More than any list of point names; a larger file is read no further.
_MAX_BYTES = 4096


def failpoint(name: str) -> None:
    """Die here with SIGKILL if the fail point file lists `name`; otherwise return at once."""
    if _FILE is None:
        return
    if name in armed(_FILE):
        log.warning("fail point %s is armed: killing this process (SIGKILL)", name)
        os.kill(os.getpid(), signal.SIGKILL)


def armed(path: str) -> set[str]:
    """The fail point names a file lists, one a line (blank lines and `#` comments ignored);
    none when the file is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as listing:
            text = listing.read(_MAX_BYTES)
    except OSError:
        return set()
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {name for name in names if name}
