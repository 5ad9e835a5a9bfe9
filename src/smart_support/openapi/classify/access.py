"""Access: whether an operation reads or writes, from its method and its words.

Access errs towards `write`: a write waits for a person's approval, so a wrong `write` costs a
click and a wrong `read` could cancel an order unasked.
"""

from __future__ import annotations

from smart_support.openapi.classify import _words as w
from smart_support.openapi.classify.decisions import Access, Decision
from smart_support.openapi.model import Operation

#: Verbs that change state whatever the method (money, messages, deletion, sessions).
STRONG_WRITES = {
    "cancel", "refund", "delete", "remove", "destroy", "purge", "erase", "wipe", "void", "pay",
    "charge", "capture", "send", "transfer", "purchase", "buy", "redeem", "revoke", "login",
    "logout", "disable", "deactivate", "suspend", "block", "archive", "close", "accept",
    "decline", "reject", "redact", "terminate", "withdraw", "payout", "submit", "approve",
    "use",
}  # fmt: skip
#: Verbs that usually change state; a read marker (an estimate, a search) outweighs them.
WEAK_WRITES = {
    "create", "update", "add", "set", "change", "edit", "modify", "upsert", "save", "put",
    "patch", "post", "insert", "replace", "activate", "reactivate", "enable", "resume", "pause",
    "unarchive", "unblock", "merge", "convert", "attach", "detach", "assign", "unassign",
    "reply", "enqueue", "authorize", "confirm", "complete", "defend", "supply", "accumulate",
    "adjust", "swap", "clone", "register", "revise", "hold", "unhold", "ship", "notify",
    "record", "stop", "apply", "deduct", "switch", "checkout", "place", "book", "schedule",
    "reschedule", "subscribe", "unsubscribe", "mark", "move", "rename", "restore", "process",
    "trigger", "start", "open", "reopen", "link", "unlink", "upload", "import", "publish",
    "reset", "invite", "verify_and_set", "obtain", "issue", "grant", "track", "tag", "untag",
    "submit", "collect",
}  # fmt: skip
#: Words that make a POST a read candidate (RPC-style and search endpoints).
READ_MARKERS = {
    "search", "list", "query", "lookup", "validate", "estimate", "calculate", "preview",
    "quote", "count", "retrieve", "get", "fetch", "find", "show", "pdf", "availability",
}  # fmt: skip
#: Read markers that outweigh a leading create/update: `Create invoice estimate` reads.
COMPUTE_MARKERS = {"estimate", "calculate", "preview", "quote", "validate", "count"}
READ_METHODS = {"get", "head", "options"}


def access(op: Operation) -> Decision[Access]:
    """Read or write, with the rule that decided."""
    method = op.method.lower()
    ident, text, segment = w.id_words(op), w.stems(w.phrase(op)), w.action_segment(op.path)
    leading = {ident[0]} if ident else set()
    leading |= {text[0]} if text else set()
    if method in READ_METHODS:
        verb = (leading | set(segment[:1])) & STRONG_WRITES
        if verb:
            word = sorted(verb)[0]
            return Decision[Access](
                value="write",
                confidence=0.85,
                reason=f"a {method.upper()} that says "
                f"'{word}': it changes state whatever its method",
            )
        return Decision[Access](
            value="read", confidence=0.9, reason=f"{method.upper()} and no state-changing verb"
        )
    words = set(ident) | set(text) | set(w.path_words(op.path))
    strong = words & STRONG_WRITES
    if strong:
        return Decision[Access](
            value="write", confidence=0.95, reason=f"says '{sorted(strong)[0]}': changes state"
        )
    if method in ("delete", "put", "patch"):
        return Decision[Access](
            value="write", confidence=0.95, reason=f"{method.upper()} changes state"
        )
    markers = words & READ_MARKERS
    if leading & WEAK_WRITES:
        markers &= COMPUTE_MARKERS
        path = set(w.path_words(op.path))
        if path & WEAK_WRITES and not path & COMPUTE_MARKERS:
            markers = set()  # `/inventory/changes/batch-create` writes whatever it counts
    if markers:
        word = sorted(markers)[0]
        return Decision[Access](
            value="read", confidence=0.6,
            reason=f"a {method.upper()} named '{word}' and no state-changing verb: a read "
            "candidate (confirm it)",
        )  # fmt: skip
    weak = sorted(words & WEAK_WRITES)
    why = f"says '{weak[0]}'" if weak else "no read marker"
    return Decision[Access](
        value="write", confidence=0.9 if weak else 0.75, reason=f"{method.upper()}, {why}"
    )
