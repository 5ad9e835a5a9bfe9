"""Storage: ports (base), records, and the SQLite and PostgreSQL adapters."""

from smart_support.store.base import Store, hash_args
from smart_support.store.records import Action, Approval, Conversation, EventRecord, Usage

__all__ = ["Action", "Approval", "Conversation", "EventRecord", "Store", "Usage", "hash_args"]
