"""Redaction: personal data masked in what the operator replay API returns
(`REDACT_PERSONAL_DATA`, `REDACT_FIELDS`)."""

from smart_support.redaction.masks import ADDRESS, CARD, EMAIL, PHONE, REDACTED, mask_text
from smart_support.redaction.redactor import Redactor

#: The redactor that masks nothing (REDACT_PERSONAL_DATA off).
NO_REDACTION = Redactor()

__all__ = [
    "ADDRESS",
    "CARD",
    "EMAIL",
    "NO_REDACTION",
    "PHONE",
    "REDACTED",
    "Redactor",
    "mask_text",
]
