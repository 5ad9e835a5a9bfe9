"""Signed identities from the host site: only a well-signed, unexpired, short-lived JWT counts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smart_support.errors import IdentityError
from smart_support.identity import issue_identity_token, verify_identity_token
from smart_support.settings import Settings

SECRET = "s" * 40
SETTINGS = Settings(_env_file=None, identity_secret=SECRET)  # type: ignore[call-arg]
MAYA = {"sub": "1", "email": "Maya.Chen@example.com", "name": "Maya Chen", "tier": "gold"}


def signed(claims: dict, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def test_a_well_signed_identity_gives_its_claims_with_the_email_normalised() -> None:
    identity = verify_identity_token(signed({**MAYA, "exp": time.time() + 600}), SETTINGS)

    assert (identity.customer_id, identity.email, identity.name) == (
        "1",
        "maya.chen@example.com",
        "Maya Chen",
    )
    assert identity.method == "signed"
    assert identity.claim("tier") == "gold"


def test_the_demo_issuer_and_the_verifier_agree() -> None:
    token = issue_identity_token(MAYA, SETTINGS, ttl_seconds=60)

    assert verify_identity_token(token, SETTINGS).email == "maya.chen@example.com"


# Tokens are made when the test runs, not when the module is collected: a suite that runs
# longer than their lifetime would otherwise test expiry instead of what each case is about.
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: signed({**MAYA, "exp": time.time() + 600}, key="x" * 40), "signature does not"),
        (lambda: signed({**MAYA, "exp": time.time() - 3600}), "expired"),
        (lambda: signed(MAYA), "no `exp` claim"),
        (lambda: signed({**MAYA, "exp": time.time() + 600}, key="", algorithm="none"), "HS256"),
        (lambda: signed({"name": "Nobody", "exp": time.time() + 600}), "needs `sub` or `email`"),
        (
            lambda: signed({**MAYA, "iat": time.time(), "exp": time.time() + 30 * 86400}),
            "longer than",
        ),
        (lambda: "not.a.jwt", "not valid"),
        (lambda: "", "empty"),
    ],
    ids=[
        "forged",
        "expired",
        "no-expiry",
        "unsigned",
        "nobody",
        "too-long-lived",
        "garbage",
        "empty",
    ],
)
def test_an_untrustworthy_identity_is_refused_saying_why(
    make: Callable[[], str], reason: str
) -> None:
    with pytest.raises(IdentityError) as err:
        verify_identity_token(make(), SETTINGS)

    assert reason in str(err.value)
    assert err.value.code == "identity_refused"
    assert "reload" in err.value.public_message  # what a customer is shown: no detail


def test_with_a_public_key_an_hs256_token_signed_with_that_key_is_refused() -> None:
    # The classic algorithm confusion: the public key (known to all) used as an HMAC secret.
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings(_env_file=None, identity_public_key=public_pem)  # type: ignore[call-arg]
    good = jwt.encode({**MAYA, "exp": time.time() + 600}, private, algorithm="RS256")

    assert verify_identity_token(good, settings).customer_id == "1"
    with pytest.raises(IdentityError) as err:
        verify_identity_token(hs256_by_hand({"sub": "2", "exp": 9999999999}, public_pem), settings)
    assert "RS256" in str(err.value)


def hs256_by_hand(claims: dict, secret: str) -> str:
    """An HS256 JWT made without PyJWT (which refuses a PEM key as an HMAC secret)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def test_a_server_without_a_key_accepts_no_identity() -> None:
    with pytest.raises(IdentityError) as err:
        verify_identity_token(signed({**MAYA, "exp": time.time() + 600}), Settings(_env_file=None))  # type: ignore[call-arg]

    assert "IDENTITY_SECRET" in str(err.value)


def test_a_short_identity_secret_is_a_setting_error() -> None:
    from smart_support.errors import ConfigError
    from smart_support.settings import load_settings

    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, identity_secret="short")

    assert "IDENTITY_SECRET" in str(err.value) and "32" in str(err.value)
