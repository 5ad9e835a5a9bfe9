"""Signed identities from the host site: JWTs checked with a shared secret or a public key.

The site that embeds the chat signs who its logged-in customer is, server-side:

    jwt.encode({"sub": "17", "email": "maya.chen@example.com", "name": "Maya Chen",
                "exp": now + 600}, IDENTITY_SECRET, algorithm="HS256")

and hands the token to the chat's `start` frame. We accept only the algorithm of the configured
key (HS256 for `IDENTITY_SECRET`; RS256/ES256 for `IDENTITY_PUBLIC_KEY`), require `exp`, refuse
tokens whose lifetime exceeds `IDENTITY_MAX_TTL_SECONDS`, and check `iss`/`aud` when configured.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from smart_support.errors import IdentityError
from smart_support.identity.model import Identity
from smart_support.settings import Settings

_STANDARD = {"sub", "email", "name", "exp", "iat", "nbf", "iss", "aud", "jti"}
_LEEWAY_SECONDS = 30
_MAX_TOKEN_CHARS = 8192


def _key(settings: Settings) -> tuple[Any, list[str]]:
    if settings.identity_public_key:
        return settings.identity_public_key, ["RS256", "ES256"]
    if settings.identity_secret is not None:
        return settings.identity_secret.get_secret_value(), ["HS256"]
    raise IdentityError(
        "this server accepts no signed identities: set IDENTITY_SECRET or IDENTITY_PUBLIC_KEY"
    )


def verify_identity_token(token: str, settings: Settings) -> Identity:
    """Check a host site's identity token and return its claims.

    Raises:
        IdentityError: No key is configured, or the token is malformed, wrongly signed, of
            another algorithm, expired, not yet valid, too long-lived, of another issuer or
            audience, or names no customer; the message says which.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
        raise IdentityError("the identity token is empty or too long")
    key, algorithms = _key(settings)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={"require": ["exp"], "verify_aud": settings.identity_audience is not None},
            audience=settings.identity_audience,
            issuer=settings.identity_issuer,
            leeway=_LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise IdentityError("the identity token has expired") from None
    except jwt.InvalidAlgorithmError:
        raise IdentityError(f"the identity token must be signed with {algorithms[0]}") from None
    except jwt.InvalidSignatureError:
        raise IdentityError("the identity token's signature does not match our key") from None
    except jwt.MissingRequiredClaimError as exc:
        raise IdentityError(f"the identity token has no `{exc.claim}` claim") from None
    except jwt.InvalidTokenError as exc:
        raise IdentityError(f"the identity token is not valid: {exc}") from None
    lifetime = float(claims["exp"]) - float(claims.get("iat") or time.time())
    if lifetime > settings.identity_max_ttl_seconds + _LEEWAY_SECONDS:
        raise IdentityError(
            f"the identity token is valid for {int(lifetime)} s, longer than "
            f"IDENTITY_MAX_TTL_SECONDS ({settings.identity_max_ttl_seconds})"
        )
    return identity_from_claims(claims, "signed")


def identity_from_claims(claims: dict[str, Any], method: str) -> Identity:
    """An Identity from a claims mapping (`sub` or `customer_id`, `email`, `name`, others)."""
    subject = claims.get("sub", claims.get("customer_id"))
    email = claims.get("email")
    if subject in (None, "") and not email:
        raise IdentityError("the identity names no customer: it needs `sub` or `email`")
    extra = {k: v for k, v in claims.items() if k not in _STANDARD | {"customer_id"}}
    return Identity.model_validate(
        {
            "customer_id": None if subject in (None, "") else str(subject),
            "email": str(email).strip().lower() if email else None,
            "name": str(claims["name"]) if claims.get("name") else None,
            "method": method,
            "extra": extra,
        }
    )


def issue_identity_token(
    claims: dict[str, Any], settings: Settings, ttl_seconds: int = 3600
) -> str:
    """Sign claims the way a host site would (HS256 with IDENTITY_SECRET): for the demo's
    customer picker and for tests.

    Raises:
        IdentityError: No IDENTITY_SECRET is configured.
    """
    if settings.identity_secret is None:
        raise IdentityError("signing identities needs IDENTITY_SECRET")
    now = int(time.time())
    payload = {**claims, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(payload, settings.identity_secret.get_secret_value(), algorithm="HS256")
