"""Words of an operation: its operationId, summary and path split into lower-case stems."""

from __future__ import annotations

import re

from smart_support.openapi.model import Operation

_METHOD_WORDS = {"get", "post", "put", "patch", "delete", "head", "options"}
_VERSION = re.compile(r"^v\d+(\.\d+)*$", re.IGNORECASE)
_IRREGULAR = {"status": "status", "address": "address", "access": "access", "business": "business"}


def split(text: str) -> list[str]:
    """`getOrderById`, `get_order-by id`, `GetV1OrdersId` -> lower-case words."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", text) if w]


def stem(word: str) -> str:
    """A crude singular: `orders` -> `order`, `deliveries` -> `delivery`, `cancels` -> `cancel`."""
    if word in _IRREGULAR:
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def stems(text: str) -> list[str]:
    return [stem(w) for w in split(text)]


def is_pathlike(text: str) -> bool:
    """Adobe-style summaries and tags are the path itself: `orders/{id}/cancel`."""
    return "/" in text or "{" in text


def phrase(op: Operation) -> str:
    """The operation in words: its summary, else the description's first sentence, else ""."""
    summary = " ".join(op.summary.split())
    if summary and not is_pathlike(summary) and " " in summary:
        return summary
    first = re.split(r"(?<=[.!?])\s|\n", op.description.strip(), maxsplit=1)[0]
    return " ".join(first.split()) if first and len(first) < 200 else ""


def id_words(op: Operation) -> list[str]:
    """The operationId's words without a leading method and API version (`PostV1Orders`)."""
    words = split(op.operation_id or "")
    while words and (words[0] in _METHOD_WORDS or _VERSION.match(words[0])):
        words = words[1:]
    return [stem(w) for w in words if not _VERSION.match(w)]


def literal_segments(path: str) -> list[str]:
    """Path segments that are not `{parameters}` nor versions (`/v1/orders/{id}` -> [orders])."""
    return [s for s in path.strip("/").split("/") if s and "{" not in s and not _VERSION.match(s)]


def path_words(path: str) -> list[str]:
    return [stem(w) for s in literal_segments(path) for w in split(s)]


def action_segment(path: str) -> list[str]:
    """The words of a last path segment that acts on a resource: `/orders/{id}/cancel` ->
    [cancel], `/user/logout` -> [logout]; none for `/refunds/{id}` or a plural `/refunds`."""
    parts = [s for s in path.strip("/").split("/") if s]
    if not parts or "{" in parts[-1]:
        return []
    words = split(parts[-1])
    if not words or stem(words[0]) != words[0]:
        return []
    return words


def all_words(op: Operation) -> list[str]:
    return [*id_words(op), *stems(phrase(op)), *path_words(op.path)]
