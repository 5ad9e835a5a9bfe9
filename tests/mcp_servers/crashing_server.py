"""An MCP server command that dies before it answers: start-up must fail with a clear error."""

import sys

sys.stderr.write("crashing_server: giving up on purpose\n")
sys.exit(3)
