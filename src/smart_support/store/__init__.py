"""Storage: ports (base), records, and the SQLite and PostgreSQL adapters."""

from smart_support.store.base import Store, hash_args
from smart_support.store.persistence import (
    Persistence,
    create_store,
    is_store_unavailable,
    open_persistence,
    translate_store_errors,
)
from smart_support.store.postgres import PostgresStore
from smart_support.store.records import Action, Approval, Conversation, EventRecord, Usage
from smart_support.store.sqlite import SqliteStore

__all__ = [
    "Action",
    "Approval",
    "Conversation",
    "EventRecord",
    "Persistence",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "Usage",
    "create_store",
    "hash_args",
    "is_store_unavailable",
    "open_persistence",
    "translate_store_errors",
]
