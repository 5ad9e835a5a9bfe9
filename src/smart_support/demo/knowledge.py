"""The demo help center: markdown articles split into sections, searched with BM25.

Each `##` heading of a file in `demo/kb/` starts a section; a query is matched against section
titles (weighted up) and text with Okapi BM25 over lightly stemmed words. No model, no download:
fast, deterministic, good enough for a few dozen FAQ sections.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

logger = logging.getLogger("smart_support.demo")

_WORD = re.compile(r"[a-z0-9]+")
# fmt: off
_STOP = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
        "get", "have", "how", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or",
        "our", "so", "that", "the", "their", "there", "this", "to", "up", "us", "was", "we",
        "what", "when", "where", "which", "who", "will", "with", "you", "your", "i'm", "want",
        "need", "please",
    ]
)
# fmt: on
_TITLE_WEIGHT = 3


def tokens(text: str) -> list[str]:
    """Lower-cased, stop-word-free, lightly stemmed words ("returning", "returns" -> "return")."""
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in _STOP]


def _stem(word: str) -> str:
    """A tiny suffix stripper: enough to make plurals and verb forms meet."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ation") or word.endswith("ations"):
        word = word[: word.rindex("ation")]
    elif word.endswith("ing") and len(word) >= 6:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 5:
        word = _undouble(word[:-2])
    elif word.endswith("es") and word[:-2].endswith(("ss", "x", "z", "ch", "sh")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ly") and len(word) >= 6:
        word = word[:-2]
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def _undouble(stem: str) -> str:
    """ "shipp" -> "ship", "cancell" -> "cancel" (but "address" keeps its double s)."""
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeious":
        return stem[:-1]
    return stem


@dataclass(frozen=True)
class Section:
    """One heading of a help-center article and the text under it."""

    title: str
    text: str
    source: str
    terms: Counter[str] = field(compare=False, repr=False)
    length: int = field(compare=False, repr=False)


class KnowledgeBase:
    """BM25 search over the `##` sections of markdown files.

    Args:
        sections: The sections to search; see `from_directory`.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
    """

    def __init__(self, sections: list[Section], *, k1: float = 1.4, b: float = 0.75) -> None:
        self.sections = sections
        self.k1, self.b = k1, b
        self.average_length = sum(s.length for s in sections) / max(len(sections), 1)
        document_frequency: Counter[str] = Counter()
        for section in sections:
            document_frequency.update(set(section.terms))
        n = len(sections)
        self.idf = {
            term: math.log(1 + (n - df + 0.5) / (df + 0.5))
            for term, df in document_frequency.items()
        }

    @classmethod
    def from_directory(cls, directory: Path) -> KnowledgeBase:
        """Read every `*.md` file of `directory`, in name order."""
        sections: list[Section] = []
        for path in sorted(directory.glob("*.md")):
            sections.extend(split_sections(path.read_text(encoding="utf-8"), path.name))
        logger.info("help center: %d sections from %s", len(sections), directory)
        return cls(sections)

    def search(self, query: str, limit: int = 3) -> list[tuple[float, Section]]:
        """The best sections for `query`, best first; sections sharing no word are left out."""
        wanted = set(tokens(query))
        scored = []
        for index, section in enumerate(self.sections):
            score = self._score(wanted, section)
            if score > 0:
                scored.append((-score, index, section))
        scored.sort(key=lambda item: (item[0], item[1]))
        return [(-negative, section) for negative, _, section in scored[:limit]]

    def _score(self, wanted: set[str], section: Section) -> float:
        norm = self.k1 * (1 - self.b + self.b * section.length / (self.average_length or 1))
        score = 0.0
        for term in wanted:
            frequency = section.terms.get(term, 0)
            if frequency:
                score += self.idf[term] * frequency * (self.k1 + 1) / (frequency + norm)
        return score


def split_sections(markdown: str, source: str) -> list[Section]:
    """Split an article at its `##` headings; the `#` title prefixes each section's title."""
    article = source.rsplit(".", 1)[0].replace("-", " ").capitalize()
    sections: list[Section] = []
    title: str | None = None
    lines: list[str] = []

    def close() -> None:
        text = _tidy("\n".join(lines))
        if title and text:
            terms = Counter(tokens(text))
            for term in tokens(title):  # a word in the heading says more than one in the text
                terms[term] += _TITLE_WEIGHT
            sections.append(
                Section(
                    title=f"{article}: {title}",
                    text=text,
                    source=source,
                    terms=terms,
                    length=sum(terms.values()),
                )
            )

    for line in markdown.splitlines():
        if line.startswith("# "):
            article = line[2:].strip()
        elif line.startswith("## "):
            close()
            title, lines = line[3:].strip(), []
        else:
            lines.append(line)
    close()
    return sections


_MARKUP = re.compile(r"(\*\*|__|`)(.+?)\1")
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*•])\s+")


def _tidy(markdown: str) -> str:
    """A section's text as clean paragraphs: markup dropped, wrapped lines joined, list items
    one per line, so a reader (or a model) never meets a sentence cut at a line end."""
    out: list[str] = []
    for raw in markdown.strip().splitlines():
        line = _MARKUP.sub(r"\2", raw.strip())
        if not line:
            if out and out[-1]:
                out.append("")
        elif (
            _LIST_ITEM.match(line)
            or not out
            or not out[-1]
            or (_LIST_ITEM.match(out[-1]) and not raw[:1].isspace())  # the text after a list
        ):
            out.append(line)
        else:
            out[-1] += " " + line
    return "\n".join(out).strip()


@lru_cache(maxsize=1)
def demo_knowledge_base() -> KnowledgeBase:
    """The demo shop's help center (shipping, returns, payments, accounts), read once."""
    directory = resources.files("smart_support.demo") / "kb"
    return KnowledgeBase.from_directory(Path(str(directory)))


async def search_help_center(query: str) -> dict[str, Any]:
    """Search the help-center FAQ for policies and how-tos: shipping, returns, refunds, payments.

    Args:
        query: The customer's question or its key words, e.g. "how do I return an item?".
    """
    query = query.strip()[:500]
    if not query:
        return {"matches": [], "note": "ask a question to search the help center"}
    found = demo_knowledge_base().search(query, limit=3)
    if not found:
        return {"matches": [], "note": f"the help center has nothing about {query!r}"}
    return {
        "matches": [
            {"title": s.title, "text": s.text, "source": s.source, "score": round(score, 2)}
            for score, s in found
        ]
    }
