"""Customer identity: who the customer of a conversation is, and the rules tools are held to.

Identities come from a signed token of the host site (`verify_identity_token`) or from the
configured verification tool; the tool guard (`smart_support.runtime.guard`) binds arguments to
the verified claims and checks ownership of every read on every call.
"""

from smart_support.identity.model import Identity
from smart_support.identity.tokens import (
    identity_from_claims,
    issue_identity_token,
    verify_identity_token,
)

__all__ = ["Identity", "identity_from_claims", "issue_identity_token", "verify_identity_token"]
