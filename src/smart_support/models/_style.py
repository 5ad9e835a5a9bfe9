"""The phrasing half of the matcher: what a message's function words and shapes say.

"Do you ...?" or "Can I ...?" without a number reads as a general question; "my order 1042" as
one about a specific record. A Bernoulli naive Bayes over function words and shapes (a number, an
email address) is learnt from each key's own texts; see `Matcher(style_weight=...)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["StyleModel"]

_SHAPES = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), " _email_ "),
    (re.compile(r"#?\b\d{3,}\b"), " _number_ "),
)
_STYLE_WORD = re.compile(r"_\w+_|[a-z]+")


def _style_features(text: str, stop_words: frozenset[str]) -> set[str]:
    """The function words and shapes of a text: what content matching leaves out."""
    lowered = text.lower()
    for pattern, shape in _SHAPES:
        lowered = pattern.sub(shape, lowered)
    return {w for w in _STYLE_WORD.findall(lowered) if w in stop_words or w.startswith("_")}


class StyleModel:
    """Bernoulli naive Bayes over style features, learnt from each key's texts (add-1/2)."""

    def __init__(self, docs: Mapping[str, Sequence[str]], stop_words: frozenset[str]) -> None:
        self._stop = stop_words
        self._log: dict[str, dict[str, tuple[float, float]]] = {}
        counts = {
            key: [_style_features(t, stop_words) for t in texts if t.strip()]
            for key, texts in docs.items()
        }
        self._features = sorted({f for texts in counts.values() for fs in texts for f in fs})
        #: The share of each key's texts that carry each shape.
        self._share = {
            key: {
                f: sum(f in fs for fs in texts) / len(texts)
                for f in self._features
                if f.startswith("_")
            }
            if texts
            else {}
            for key, texts in counts.items()
        }
        for key, texts in counts.items():
            n = len(texts)
            table = {}
            for feature in self._features:
                p = (sum(feature in fs for fs in texts) + 0.5) / (n + 1)
                table[feature] = (math.log(p), math.log(1.0 - p))
            self._log[key] = table

    def shapes(self, text: str) -> dict[str, float]:
        """For each shape in `text` (a number, an email address): how much more often than the
        average key this key's texts carry it, summed; 0 for a text without shapes."""
        present = {f for f in _style_features(text, self._stop) if f.startswith("_")}
        out = dict.fromkeys(self._share, 0.0)
        for shape in present:
            shares = {key: share.get(shape, 0.0) for key, share in self._share.items()}
            mean = sum(shares.values()) / (len(shares) or 1)
            for key, value in shares.items():
                out[key] += value - mean
        return out

    def posterior(self, text: str) -> dict[str, float]:
        present = _style_features(text, self._stop)
        logs = {
            key: sum(yes if f in present else no for f, (yes, no) in table.items())
            for key, table in self._log.items()
        }
        top = max(logs.values(), default=0.0)
        weights = {key: math.exp(v - top) for key, v in logs.items()}
        total = sum(weights.values()) or 1.0
        return {key: w / total for key, w in weights.items()}
