"""The help-center tool of a project made from a template: its own `kb/` articles, searched.

A project's agents.yaml lists `smart_support.templates.knowledge:search_knowledge_base`; the
articles are the `*.md` files of the `kb/` folder beside that agents.yaml (AGENTS_FILE), so a
team edits its help center by editing those files. The search is the demo help center's (BM25
over `##` sections, `smart_support.demo.knowledge`); the articles are read once per folder and
again when a file there changes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from smart_support.demo.knowledge import KnowledgeBase, demo_knowledge_base
from smart_support.tools.context import current_tool_context

logger = logging.getLogger("smart_support.templates")

_cache: dict[Path, tuple[tuple[tuple[str, float], ...], KnowledgeBase]] = {}


def knowledge_base_for(agents_file: Path | None) -> KnowledgeBase:
    """The articles in `kb/` beside `agents_file` (the demo help center without one)."""
    if agents_file is None:
        return demo_knowledge_base()
    folder = agents_file.resolve().parent / "kb"
    stamp = tuple(sorted((p.name, p.stat().st_mtime) for p in folder.glob("*.md")))
    cached = _cache.get(folder)
    if cached is None or cached[0] != stamp:
        cached = (stamp, KnowledgeBase.from_directory(folder))
        _cache[folder] = cached
    return cached[1]


async def search_knowledge_base(query: str) -> dict[str, Any]:
    """Search the help-center articles for policies and how-tos: prices and plans, refunds,
    passwords and signing in, limits, shipping, returns, payments and accounts.

    Args:
        query: The customer's question or its key words, e.g. "how do refunds work?".
    """
    query = query.strip()[:500]
    if not query:
        return {"matches": [], "note": "ask a question to search the help center"}
    found = knowledge_base_for(current_tool_context().settings.agents_file).search(query, limit=3)
    if not found:
        return {"matches": [], "note": f"the help center has nothing about {query!r}"}
    return {
        "matches": [
            {"title": s.title, "text": s.text, "source": s.source, "score": round(score, 2)}
            for score, s in found
        ]
    }
