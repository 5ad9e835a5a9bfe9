"""Tool names and argument names: valid for MCP and LangChain, unique, stable across re-imports.

A tool name matches `^[a-zA-Z0-9_-]{1,64}$`: from the operationId (or method + path when there is
none), with every other character replaced, and a short hash of the original appended when the
name had to be cut or clashed, so the same spec always gives the same names.
"""

from __future__ import annotations

import hashlib
import re

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_NAME = 64


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def slug(text: str) -> str:
    """Letters, digits, `_` and `-` only; runs of anything else become one `_`."""
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9_-]", "_", text)).strip("_")


def base_name(operation_id: str | None, method: str, path: str) -> tuple[str, str]:
    """The preferred name of an operation, and the text it was made from (for the hash)."""
    if operation_id:
        return slug(operation_id), operation_id
    original = f"{method} {path}"
    return slug(f"{method}_{path.replace('{', '').replace('}', '')}"), original


def fit(name: str, original: str) -> str:
    """`name` cut to 64 characters; a cut or an empty name gets a hash of `original`."""
    if not name:
        return f"op_{_digest(original)}"
    if name == original and len(name) <= MAX_NAME:
        return name
    if len(name) > MAX_NAME:
        return f"{name[: MAX_NAME - 9].rstrip('_-')}_{_digest(original)}"
    return name


def unique_names(candidates: list[tuple[str, str]]) -> list[str]:
    """Names for (name, original) pairs: each valid and unique; a clash gets the original's hash.

    Every name that clashes (not only the second) gets the hash, so the names do not depend on
    the order of the operations in the document.
    """
    fitted = [fit(name, original) for name, original in candidates]
    counts: dict[str, int] = {}
    for name in fitted:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    out: list[str] = []
    taken: set[str] = set()
    for (_, original), name in zip(candidates, fitted, strict=True):
        if counts[name.lower()] > 1:
            name = f"{name[: MAX_NAME - 9].rstrip('_-')}_{_digest(original)}"
        while name.lower() in taken:  # two originals with one hash prefix: practically never
            name = f"{name[: MAX_NAME - 9].rstrip('_-')}_{_digest(name)}"
        taken.add(name.lower())
        out.append(name)
    return out


def argument_name(original: str, location: str, taken: set[str]) -> str:
    """An argument name for a parameter or body property, unique within one tool's input.

    Names are kept when they are valid (`^[a-zA-Z0-9_.-]{1,64}$`, what model providers accept
    as property keys); otherwise slugged. A clash is prefixed by the location (`query_id`,
    `body_id`).
    """
    name = (
        original
        if re.fullmatch(r"[a-zA-Z0-9_.-]{1,64}", original)
        else (slug(original)[:64] or "arg")
    )
    if name in taken:
        name = f"{location}_{name}"[:64]
    counter = 2
    stem = name[:60]
    while name in taken:
        name = f"{stem}_{counter}"
        counter += 1
    taken.add(name)
    return name
