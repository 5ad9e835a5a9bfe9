"""The test network guard in the test suite's child Python processes (CLI runs, servers).

conftest.py puts this folder on PYTHONPATH and names a log file in SMART_SUPPORT_TEST_GUARD_LOG;
every Python process a test starts then installs the same guard as the test process, and writes
its refusals to that file, where the test that started it finds them (`GUARD.take()`).
"""

import os
import sys

_LOG = os.environ.get("SMART_SUPPORT_TEST_GUARD_LOG")
if _LOG and os.path.exists(_LOG):  # a test session's file; gone once that session ended
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        import network_guard

        network_guard.install_in_child(_LOG)
    except Exception as exc:  # never break the child; make its test fail instead
        try:
            with open(_LOG, "a", encoding="utf-8") as log:
                log.write(f"test network guard: not installed in pid {os.getpid()}: {exc!r}\n")
        except OSError:
            pass
