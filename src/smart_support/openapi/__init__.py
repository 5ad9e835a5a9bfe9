"""OpenAPI and Swagger import: a spec becomes tools that call the API through the egress guard.

`import_spec(source, settings)` loads a spec (file, `-`, or URL through the egress guard), parses
it safely, validates it (findings are warnings), reads every operation into one model and makes
one LangChain tool per operation with a JSON-object input schema. GET/HEAD/OPTIONS are `read`,
every other method `write`.
"""

from __future__ import annotations

from smart_support.openapi.importer import ImportedOperation, ImportResult, convert, import_spec
from smart_support.openapi.load import Documents, SpecError, load, parse_document
from smart_support.openapi.model import Body, Operation, Parameter

__all__ = [
    "Body",
    "Documents",
    "ImportResult",
    "ImportedOperation",
    "Operation",
    "Parameter",
    "SpecError",
    "convert",
    "import_spec",
    "load",
    "parse_document",
]
