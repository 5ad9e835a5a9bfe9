"""Answering from knowledge-base passages: the sentences that answer, the direct answer first.

A search tool returns passages (help-center sections, documents, snippets). The reply is the
sentence that best answers the customer's question, with its closest companions from the same
passage, as clean sentences; for a "how do I" question the steps; for a yes/no question that the
sentence clearly settles, "Yes." or "No." first. File names and scores stay out of it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from smart_support.models.matching import STOP_WORDS, Matcher, stem, tokenize

__all__ = ["PASSAGE_KEYS", "answer_passages", "passage_of", "sentences"]

PASSAGE_KEYS = ("content", "text", "snippet", "passage", "body", "answer", "excerpt", "summary")
_TITLE_KEYS = ("title", "question", "heading", "name", "topic")
_YES_NO = re.compile(
    r"^\W*(do|does|did|can|could|is|are|was|were|will|would|should|may|might|have|has|am)\b", re.I
)
_HOW_TO = re.compile(
    r"\b(how (do|can|should|would) (i|we|you)|how to|what are the steps|steps)\b", re.I
)
_NEGATION = re.compile(
    r"\b(not|no|never|cannot|can't|don't|doesn't|won't|isn't|aren't|nor|without|neither)\b", re.I
)
_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
#: Question words that ask how rather than about what ("how long does it take").
_FILLERS = frozenset({"long", "much", "many", "take", "takes", "work", "works", "way", "know"})
_FILLERS |= frozenset({"tell", "thing", "things", "usually", "exactly", "possible", "happen"})
#: Companions must score at least this share of the best sentence.
_COMPANION_SHARE = 0.5
_RANK_DISCOUNT = (1.0, 0.85, 0.7)


def passage_of(item: dict[str, Any]) -> str | None:
    for key in PASSAGE_KEYS:
        if isinstance(item.get(key), str) and item[key].strip():
            return str(item[key]).strip()
    return None


def _title_of(item: dict[str, Any]) -> str:
    return next((str(item[k]) for k in _TITLE_KEYS if isinstance(item.get(k), str)), "")


def sentences(passage: str) -> list[tuple[str, bool]]:
    """The passage as (sentence, is_step) pairs: markdown dropped, wrapped lines joined."""
    blocks: list[list[str]] = []  # each: [text, "step" or "para"]
    for raw in passage.replace("\r", "").split("\n"):
        line = re.sub(r"[*_`]{1,3}(\S[^*_`]*\S|\S)[*_`]{1,3}", r"\1", raw.strip())
        line = line.lstrip("#").strip()
        if not line:
            blocks.append(["", "break"])
            continue
        indented = raw[:1].isspace()
        if _STEP.match(line):
            blocks.append([_STEP.sub("", line), "step"])
        elif (
            blocks
            and blocks[-1][0]
            and (blocks[-1][1] == "para" or (blocks[-1][1] == "step" and indented))
        ):
            blocks[-1][0] += " " + line
        else:
            blocks.append([line, "para"])
    out: list[tuple[str, bool]] = []
    for text, kind in blocks:
        if not text:
            continue
        if kind == "step":
            out.append((text, True))
        else:
            out += [(s.strip(), False) for s in _SENTENCE_END.split(text) if s.strip()]
    return out


def _direct(question: str, sentence: str, title: str) -> str | None:
    """ "Yes." or "No." when the sentence settles a yes/no question, else None."""
    if not _YES_NO.match(question):
        return None
    wanted = set(tokenize(question))
    have = set(tokenize(sentence)) | set(tokenize(title))
    if not wanted or len(wanted - have) > (1 if len(wanted) >= 4 else 0):
        return None
    words = re.findall(r"[\w']+", sentence.lower())
    negated = False
    for i, word in enumerate(words):
        if _NEGATION.fullmatch(word):
            if wanted & set(tokenize(" ".join(words[i + 1 : i + 5]))):
                negated = True
            else:
                return None  # a negation about something else: not clear enough to say yes
    return "No." if negated else "Yes."


def _covered(question: str, items: list[dict[str, Any]]) -> bool:
    """Whether the passages speak about at least half of what the question names (numbers too:
    "what's 17 times 23" is not answered by a passage about delivery times)."""
    words = [
        w for w in re.findall(r"[a-z0-9]+", question.lower()) if w not in STOP_WORDS | _FILLERS
    ]
    if not words:
        return True
    text = " ".join((passage_of(i) or "") + " " + _title_of(i) for i in items).lower()
    have = set(tokenize(text)) | set(re.findall(r"\d+", text))
    found = sum(1 for w in words if (w if w.isdigit() else stem(w)) in have or w in have)
    return found * 2 >= len(words)


@lru_cache(maxsize=256)
def _matcher(docs: tuple[tuple[str, tuple[str, ...]], ...]) -> Matcher:
    """A matcher over a search's passages: the same question finds the same passages, and
    building the index was a quarter of the model's time on a help-center answer."""
    return Matcher(dict(docs))


def answer_passages(items: list[Any], question: str) -> str:
    """The reply to `question` from the passages a search returned, best first.

    Args:
        items: The results: dicts with a passage (`content`, `text`...) and maybe a `score`.
        question: The customer's question.
    """
    dicts = [i for i in items if isinstance(i, dict) and passage_of(i)]
    if any(isinstance(i.get("score", i.get("relevance")), int | float) for i in dicts):
        dicts.sort(key=lambda i: -float(i.get("score", i.get("relevance")) or 0.0))
    dicts = dicts[: len(_RANK_DISCOUNT)]
    if not dicts:
        return "I could not find anything matching that."
    if question.strip() and not _covered(question, dicts):
        return "I could not find an answer to that."
    split = [sentences(passage_of(i) or "") for i in dicts]
    docs = {
        f"{n}:{k}": [text, _title_of(dicts[n])]
        for n, parts in enumerate(split)
        for k, (text, _) in enumerate(parts)
    }
    scores = (
        _matcher(tuple((k, tuple(v)) for k, v in docs.items())).scores(question)
        if question.strip()
        else {}
    )
    ranked = sorted(
        docs,
        key=lambda key: -scores.get(key, 0.0) * _RANK_DISCOUNT[int(key.split(":")[0])],
    )
    if not ranked or scores.get(ranked[0], 0.0) <= 0.0:
        n, best = 0, 0  # nothing in common: the search's own best passage, from its start
    else:
        n, best = (int(x) for x in ranked[0].split(":"))
    parts = split[n]
    top = scores.get(f"{n}:{best}", 0.0)
    if _HOW_TO.search(question) and any(step for _, step in parts):
        first = next(k for k, (_, step) in enumerate(parts) if step)
        chosen = list(range(max(0, first - 1), len(parts)))
    else:
        companions = [
            k
            for k in range(len(parts))
            if k != best and top > 0 and scores.get(f"{n}:{k}", 0.0) >= _COMPANION_SHARE * top
        ]
        chosen = sorted([best, *companions[:2]])
    lines = []
    for k in chosen:
        text, step = parts[k]
        lines.append(
            f"{len([1 for j in chosen if j <= k and parts[j][1]])}. {text}" if step else text
        )
    reply = " ".join(line for line in lines if not re.match(r"^\d+\. ", line))
    steps = [line for line in lines if re.match(r"^\d+\. ", line)]
    if steps:
        head = [line for line in lines[: lines.index(steps[0])]]
        tail = [line for line in lines[lines.index(steps[-1]) + 1 :]]
        reply = "\n".join([" ".join(head), *steps, " ".join(tail)]).strip()
    direct = _direct(question, parts[best][0], _title_of(dicts[n]))
    if direct and not steps:  # the sentence that settles it right after the yes or no
        rest = [parts[k][0] for k in chosen if k != best]
        reply = " ".join([parts[best][0], *rest])
    return f"{direct} {reply}" if direct else reply
