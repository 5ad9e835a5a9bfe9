"""The conversation runtime: supervisor routing, specialist agents, approvals, streaming."""
