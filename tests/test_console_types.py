"""The operator console's REST types are generated from the server's models (no drift)."""

from __future__ import annotations

from smart_support.server.schema_export import REST_TYPESCRIPT, rest_typescript


def test_the_consoles_rest_types_are_generated_from_the_current_models() -> None:
    assert REST_TYPESCRIPT.read_text() == rest_typescript(), (
        "web/src/console/api-types.ts is stale: run `python -m smart_support.server.schema_export`"
    )


def test_every_rest_answer_the_console_reads_has_a_type() -> None:
    text = REST_TYPESCRIPT.read_text()
    for name in ("Analytics", "EventPage", "ConversationSummary", "OperatorApproval"):
        assert f"export interface {name} {{" in text
    assert "export interface ConversationOut {" in text and "  outcome: string | null;" in text
