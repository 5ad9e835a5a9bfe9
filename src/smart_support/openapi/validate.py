"""Validation with openapi-spec-validator: findings are warnings, never a refusal on their own.

Real specs break the rules (a `security` of the wrong type, a dangling `$ref`); the import keeps
every operation that can still be called. The validator never reaches the network here: its
reference handlers refuse every URL (external documents were fetched by `load`, through the
egress guard, and are not re-fetched).
"""

from __future__ import annotations

from typing import Any

from jsonschema_path import SchemaPath
from openapi_spec_validator.shortcuts import get_validator_cls
from openapi_spec_validator.validation.exceptions import ValidatorDetectError

#: Findings beyond this are counted, not listed.
MAX_FINDINGS = 50


def _refuse(uri: str) -> Any:
    raise LookupError(f"not fetched during validation: {uri}")


_NO_NETWORK = {"<all_urls>": _refuse, "http": _refuse, "https": _refuse, "file": _refuse}


def pointer(parts: Any) -> str:
    """A JSON pointer (RFC 6901) for a path of keys and indexes."""
    return (
        "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""
    )


def findings(spec: Any) -> list[str]:
    """The validator's findings as `"<json pointer>: message"` lines (at most MAX_FINDINGS + 1)."""
    try:
        cls = get_validator_cls(spec)
    except (ValidatorDetectError, KeyError, TypeError):
        return ["/: not an OpenAPI 3.0/3.1 or Swagger 2.0 document the validator recognises"]
    out: list[str] = []
    extra = 0
    try:
        for error in cls(SchemaPath.from_dict(spec, handlers=_NO_NETWORK)).iter_errors():
            if len(out) >= MAX_FINDINGS:
                extra = 1  # stop here: the rest would cost seconds on a large spec
                break
            where = pointer(list(getattr(error, "absolute_path", []) or []))
            out.append(f"{where or '/'}: {str(error.message)[:300]}")
    except RecursionError:
        out.append("/: the validator gave up (too deeply nested); validation is incomplete")
    except Exception as exc:  # the validator stops at the first broken $ref, for example
        out.append(f"/: validation stopped early: {type(exc).__name__}: {str(exc)[:200]}")
    if extra:
        out.append(f"/: more than {MAX_FINDINGS} findings; the rest are not listed")
    return out
