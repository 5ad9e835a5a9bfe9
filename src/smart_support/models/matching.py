"""Lexical text matching: which of a few keyed texts does a customer message talk about?

Used by the offline model (routing and tool choice) and by the runtime (topic-switch detection)
without any language model. A `Matcher` is built once from texts per key, for example
agent -> [description, example, example, ...] or tool -> [tool name, description], and then scores
messages against every key.

How a message is scored:

* Texts are tokenised: lower-cased, `snake_case` and `camelCase` identifiers split, English stop
  words dropped, light suffix stemming ("cancelled", "cancellation" -> "cancel"), and a small table
  of general customer-service synonyms ("parcel", "package", "shipment" -> one concept).
* Typos: a message word that is not in the matcher's vocabulary is replaced by the vocabulary word
  at edit distance 1 (words of 4+ letters with the same first letter; in words of up to 5 letters
  only a missing, extra or swapped letter, since one changed letter usually makes another word:
  "site" is not "size", "thank" is not "think"; nor one more letter at the end: "later" is not
  "late") or 2 (words of 8+ letters), counted at
  `TYPO_WEIGHT` of a correct word. "cancle my ordr" matches "cancel my order".
* Each key gets two TF-IDF cosines in 0..1 (IDF over the keys' texts): one against its closest
  single text (`max`) and one against all its texts together (`centroid`); the score is their mean.
  Words the matcher has never seen count as common words in the message's length, so a long
  message with one strong word still scores, but less than a short one.
* Context (earlier messages) only lifts a score, and only for a message that opens like a
  follow-up ("and ...", "what about ...") or that carries something the matcher knows but
  matches nothing on its own (below `MIN_SCORE`):
  ``score + CONTEXT_WEIGHT * context_score * (1 - score)``. A message that matches a key by
  itself is taken at its word: "do you have the rain jacket in M?" after an account look-up is
  about products, not the account.

Thresholds (documented so callers agree on them):

* `MIN_SCORE` (0.12): below it nothing matches; the offline model routes to the fallback agent or
  answers in plain text instead of calling a tool.
* Style (optional, `style_weight`): the words content matching drops also say something. "Do
  you ...?" / "Can I ...?" without a number reads as a general question; "my order 1042" as one
  about a specific record. A Bernoulli naive Bayes over function words and shapes (a number, an
  email address) is learnt from each key's own texts, and ``style_weight * (posterior - 1/keys)``
  is added to the score. Nothing is hard-coded: it learns whatever the texts show. A shape in
  the message (a number, an email address) also adds ``SHAPE_WEIGHT`` times how much more often
  than the average key this key's texts carry it: "order 9191 arrived damaged" goes where the
  texts with numbers are, even when its words lean elsewhere.
* `Matcher.strange`: a message with content words none of which the matcher knows ("tell me a
  joke" to a shop); the runtime does not keep such a message with the active specialist.
* `CONFIDENT_SCORE` (0.3) with `CONFIDENT_MARGIN` (0.1): a match this clear can be trusted on
  its own, e.g. to decide that a customer switched topic to another agent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from smart_support.models._style import StyleModel

__all__ = [
    "CONFIDENT_MARGIN",
    "CONFIDENT_SCORE",
    "CONTEXT_WEIGHT",
    "FOLLOW_UP",
    "MIN_SCORE",
    "SHAPE_WEIGHT",
    "TYPO_WEIGHT",
    "Match",
    "Matcher",
    "split_identifier",
    "stem",
    "tokenize",
]

MIN_SCORE = 0.12
CONFIDENT_SCORE = 0.3
CONFIDENT_MARGIN = 0.1
CONTEXT_WEIGHT = 0.5
TYPO_WEIGHT = 0.8
#: How much a shape (number, email) counts; chosen on the own and old held-out sets, see `scores`.
SHAPE_WEIGHT = 0.3

_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing don done down during each
    else few for from further get got had has have having he her here hers him his how i if
    in into is it its itself just let me might more most must my myself no nor not now of
    off on once only or other our ours out over own please pls plz same shall she should so
    some such than that the their them then there these they this those through to too u
    under until up ur us very via want was we were what which while who whom why will with
    would yet you your yours yourself d ll m re s t ve hi hey hello ok okay yes also still
    would like need i'd im id wanna gonna
    time times thing things way day really actually something anything tell know
    think make
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

# Words that mean the same thing in customer-service English. Kept small and general on purpose:
# nothing here knows about any one business.
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("human", "person", "people", "someone", "somebody", "representative", "operator", "staff"),
    ("package", "parcel"),
    ("order", "purchase"),
    ("talk", "speak", "chat"),
    ("track", "trace", "locate", "where", "whereabouts"),
    ("ship", "dispatch"),
    ("cost", "price", "fee", "charge"),
    ("login", "signin", "logon"),
    ("register", "signup", "enrol", "enroll"),
    ("return", "sendback"),
    ("change", "update", "modify", "edit", "amend", "alter"),
    ("help", "assist", "support"),
    ("thank", "thx", "cheers"),
    ("bye", "goodbye"),
    ("manager", "supervisor", "boss", "superior"),
    ("carrier", "courier"),
    ("legal", "lawyer", "attorney", "solicitor", "court", "sue", "lawsuit"),
    ("complaint", "complain", "grievance"),
    ("angry", "furious", "livid", "upset", "annoyed", "frustrated", "outraged", "disgusted"),
    ("useless", "terrible", "awful", "worst", "rubbish", "pathetic", "unacceptable"),
    ("refund", "reimburse", "reimbursement", "moneyback"),
    ("damaged", "broken", "defective", "faulty"),
    ("safety", "fire", "smoke", "burn", "shock", "injury", "injured", "hazard", "dangerous"),
    ("fraud", "fraudulent", "scam", "unauthorised", "unauthorized", "hacked", "stolen"),
    ("invoice", "receipt", "bill"),
    ("discount", "coupon", "promo", "voucher", "promotion"),
    ("stock", "available", "availability"),
)

_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PHRASES = (
    ("send back", "sendback"),
    ("sign up", "signup"),
    ("sign in", "signin"),
    ("how much", "cost"),
    ("money back", "moneyback"),
)
FOLLOW_UP = re.compile(r"^\s*(and|also|then|so|what about|how about|same for|plus)\b", re.I)


def split_identifier(name: str) -> str:
    """Turn a tool or agent name into words: `get_order_status` -> "get order status"."""
    spaced = _CAMEL.sub(" ", name)
    return re.sub(r"[_\-.:/]+", " ", spaced).strip()


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """Strip common English suffixes so inflections meet: "shipping", "shipped" -> "ship".

    Deliberately light (no dictionary): it only has to map a word and its variants to the same
    string, not produce a real word.
    """
    w = word.lower()
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix, min_len in (("ation", 7), ("ment", 6), ("ing", 5), ("ed", 4), ("ly", 5)):
        if w.endswith(suffix) and len(w) >= min_len + 1:
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "ls":
                w = w[:-1]  # shipp -> ship, but keep "cancell" -> handled below
            break
    if w.endswith("ll") and len(w) > 5:
        w = w[:-1]  # cancell -> cancel
    if w.endswith("y") and len(w) > 5:
        w = w[:-1]  # delivery -> deliver, policy -> polic
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # change, changed, changing -> chang
    return w


def _synonym_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for group in _SYNONYM_GROUPS:
        canonical = stem(group[0])
        for word in group:
            table[stem(word)] = canonical
    return table


_SYNONYMS = _synonym_table()


def _words(text: str) -> list[str]:
    lowered = split_identifier(text).lower()
    for phrase, joined in _PHRASES:
        lowered = lowered.replace(phrase, joined)
    words = []
    for raw in _WORD.findall(lowered):
        word = raw.split("'", 1)[0]  # what's -> what, don't -> don
        if word and word not in STOP_WORDS and not word.isdigit():
            words.append(word)
    return words


def tokenize(text: str) -> list[str]:
    """Content tokens of a text: no stop words, no bare numbers, stemmed, synonyms merged.

    Args:
        text: Any text: a message, a description, or an identifier such as `cancel_order`.

    Returns:
        The tokens in order, duplicates kept.
    """
    out = []
    for word in _words(text):
        token = stem(word)
        out.append(_SYNONYMS.get(token, token))
    return out


def _edit_distance_at_most(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, or `limit + 1` when larger."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@dataclass(frozen=True)
class Match:
    """The best key for a text.

    Attributes:
        key: The winning key.
        score: Its score, 0..1.
        margin: Its lead over the runner-up (its whole score when there is only one key).
    """

    key: str
    score: float
    margin: float

    @property
    def confident(self) -> bool:
        """True when the match is clear enough to act on alone (see `CONFIDENT_SCORE`)."""
        return self.score >= CONFIDENT_SCORE and self.margin >= CONFIDENT_MARGIN


Vector = dict[str, float]


def _norm(vec: Mapping[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vec.values())) or 1.0


class Matcher:
    """TF-IDF matcher over a few keyed groups of texts, tolerant of typos and inflections.

    Args:
        docs: Texts per key, e.g. ``{"orders": [description, *examples]}`` or
            ``{"cancel_order": ["cancel_order", "Cancel an order that has not shipped."]}``.
            Identifiers inside texts are split into words.

    Example:
        >>> m = Matcher({"billing": ["Invoices and payments"], "tech": ["Login problems"]})
        >>> m.best("where is my invoce").key
        'billing'
    """

    def __init__(self, docs: Mapping[str, Sequence[str]], *, style_weight: float = 0.0) -> None:
        self.keys: tuple[str, ...] = tuple(docs)
        self.style_weight = style_weight
        self._style = StyleModel(docs, STOP_WORDS) if style_weight else None
        tokenised = {
            key: [tokenize(t) for t in texts if t and t.strip()] for key, texts in docs.items()
        }
        all_texts = [toks for texts in tokenised.values() for toks in texts if toks]
        df: dict[str, int] = {}
        for toks in all_texts:
            for tok in set(toks):
                df[tok] = df.get(tok, 0) + 1
        n = max(len(all_texts), 1)
        self._idf = {tok: math.log(1.0 + n / count) for tok, count in df.items()}
        #: Weight of a word the matcher has never seen: that of a word in half of the texts.
        self._unknown_idf = math.log(3.0)
        self._surface = self._surface_forms(docs)
        self._typo_cache: dict[str, str | None] = {}
        self._texts: dict[str, list[tuple[Vector, float]]] = {}
        self._centroids: dict[str, tuple[Vector, float]] = {}
        for key, texts in tokenised.items():
            vectors = [self._vector(toks) for toks in texts if toks]
            self._texts[key] = [(v, _norm(v)) for v in vectors]
            centroid: Vector = {}
            for vec in vectors:
                length = _norm(vec)
                for tok, weight in vec.items():
                    centroid[tok] = centroid.get(tok, 0.0) + weight / length
            self._centroids[key] = (centroid, _norm(centroid))

    @staticmethod
    def _surface_forms(docs: Mapping[str, Sequence[str]]) -> dict[str, str]:
        surface: dict[str, str] = {}
        for texts in docs.values():
            for text in texts:
                for word in _words(text or ""):
                    token = stem(word)
                    surface.setdefault(word, _SYNONYMS.get(token, token))
                    surface.setdefault(token, _SYNONYMS.get(token, token))
        return surface

    def _vector(self, tokens: Sequence[str], weights: Sequence[float] | None = None) -> Vector:
        vec: Vector = {}
        for i, tok in enumerate(tokens):
            vec[tok] = vec.get(tok, 0.0) + (weights[i] if weights else 1.0)
        return {
            tok: (1.0 + math.log(tf)) * self._idf.get(tok, self._unknown_idf)
            if tf >= 1
            else tf * self._idf.get(tok, self._unknown_idf)
            for tok, tf in vec.items()
        }

    def _correct(self, word: str) -> str | None:
        """The vocabulary token a misspelt word most likely meant, or None."""
        if word in self._typo_cache:
            return self._typo_cache[word]
        found: str | None = None
        best = 3
        forms = [f for f in dict.fromkeys((word, stem(word))) if len(f) >= 4 and not f.isdigit()]
        for known in sorted(self._surface):  # sorted: ties resolve the same way every run
            for form in forms:
                limit = 2 if len(form) >= 8 else 1
                if limit == 1 and known[0] != form[0]:
                    continue
                if len(form) <= 5 and len(known) == len(form) and sorted(known) != sorted(form):
                    continue  # one changed letter in a short word is usually another word
                if len(form) <= 5 and form[:-1] == known:
                    continue  # nor is one more letter at its end: "later" is not "late"
                dist = _edit_distance_at_most(form, known, limit)
                if dist <= limit and dist < best:
                    best, found = dist, self._surface[known]
        self._typo_cache[word] = found
        return found

    def _query(self, text: str) -> tuple[Vector, bool]:
        """The message's vector, and whether any of its words is known to the matcher."""
        tokens: list[str] = []
        weights: list[float] = []
        known = False
        for word in _words(text):
            token = stem(word)
            token = _SYNONYMS.get(token, token)
            if token in self._idf:
                tokens.append(token)
                weights.append(1.0)
                known = True
                continue
            corrected = self._correct(word)
            if corrected is not None:
                tokens.append(corrected)
                weights.append(TYPO_WEIGHT)
                known = True
            else:
                tokens.append(token)
                weights.append(1.0)
        return self._vector(tokens, weights), known

    def _raw_scores(self, query: Vector) -> dict[str, float]:
        q_norm = _norm(query)
        out: dict[str, float] = {}
        for key in self.keys:
            closest = 0.0
            for vec, length in self._texts.get(key, ()):
                dot = sum(w * vec[t] for t, w in query.items() if t in vec)
                closest = max(closest, dot / (q_norm * length))
            centroid, c_norm = self._centroids.get(key, ({}, 1.0))
            dot = sum(w * centroid[t] for t, w in query.items() if t in centroid)
            out[key] = min(1.0, 0.5 * closest + 0.5 * dot / (q_norm * c_norm))
        return out

    def scores(self, text: str, context: Sequence[str] = ()) -> dict[str, float]:
        """Score every key for a text, 0..1 each (not a distribution: they need not sum to 1).

        Args:
            text: The message to match.
            context: Earlier messages, most recent last; they lift scores weakly (see the
                module docstring) and only for a message that looks related or like a follow-up.
        """
        query, known = self._query(text)
        scores = self._raw_scores(query) if query else dict.fromkeys(self.keys, 0.0)
        weak = max(scores.values(), default=0.0) < MIN_SCORE
        if context and (FOLLOW_UP.search(text) or (known and weak)):
            ctx_query, _ = self._query(" ".join(context))
            if ctx_query:
                for key, ctx in self._raw_scores(ctx_query).items():
                    scores[key] += CONTEXT_WEIGHT * ctx * (1.0 - scores[key])
        if self._style is not None and known:
            even = 1.0 / len(self.keys)
            shapes = self._style.shapes(text)
            for key, p in self._style.posterior(text).items():
                lift = self.style_weight * (p - even) + SHAPE_WEIGHT * shapes[key]
                scores[key] = min(1.0, max(0.0, scores[key] + lift))
        return scores

    def strange(self, text: str) -> bool:
        """True when `text` has content words and the matcher knows none of them, not even
        as a typo ("tell me a joke" to a shop's agents); False for a text of stop words and
        numbers only ("yes", "it's 6021")."""
        query, known = self._query(text)
        return bool(query) and not known

    def tokens(self, text: str) -> set[str]:
        """The tokens of `text` as the matcher reads them: stemmed, synonyms merged, typos fixed."""
        out = set()
        for word in _words(text):
            token = _SYNONYMS.get(stem(word), stem(word))
            out.add(token if token in self._idf else (self._correct(word) or token))
        return out

    def best(
        self, text: str, context: Sequence[str] = (), among: Sequence[str] | None = None
    ) -> Match | None:
        """The best key for a text, or None when no key scores at least `MIN_SCORE`.

        Ties go to the key listed first in `docs`, so results are deterministic.

        Args:
            text: The message to match.
            context: Earlier messages (see `scores`).
            among: Only these keys may win (and count as runner-up); default all.
        """
        scores = self.scores(text, context)
        if among is not None:
            scores = {k: v for k, v in scores.items() if k in among}
        if not scores:
            return None
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])  # stable: keeps docs order on ties
        key, score = ranked[0]
        if score < MIN_SCORE:
            return None
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        return Match(key=key, score=round(score, 4), margin=round(score - runner_up, 4))
