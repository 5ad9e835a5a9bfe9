"""Where the tests find PostgreSQL (a plain module: `conftest` names clash across folders)."""

from __future__ import annotations

import os

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
