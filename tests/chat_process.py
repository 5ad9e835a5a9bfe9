"""`smart-support chat` as a real process against a demo shop: for the end-to-end chat tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit


def run_chat(
    lines: list[str],
    shop_url: str,
    tmp_path: Path,
    *options: str,
    agents_file: Path | None = None,
) -> str:
    """Run the terminal chat (offline model, SQLite in `tmp_path`; the demo agents, or
    `agents_file`), one message per line, with extra CLI `options` (e.g. `--as EMAIL`); return
    what it printed."""
    env = {
        **os.environ,
        "LLM_PROVIDER": "offline",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "SHOP_URL": shop_url,
        "EGRESS_ALLOWLIST": f"127.0.0.1:{urlsplit(shop_url).port}",
    }
    env.pop("AGENTS_FILE", None)
    if agents_file is not None:
        env["AGENTS_FILE"] = str(agents_file)
    process = subprocess.run(
        [sys.executable, "-m", "smart_support.cli", "chat", *options],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout
