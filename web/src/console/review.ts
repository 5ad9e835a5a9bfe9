// The import review's table, from a draft (pure, tested with vitest): each operation's current
// decisions (the operators' last change, else the classifier's), and what to look at twice.

import type { ImportDraftOut } from "./api-types";

export interface Decision {
  source?: string;
  confidence?: number;
  reason?: string;
}

export interface Parameter {
  name: string;
  role?: string;
  in?: string;
  /** Why the classifier gave it its role (and whether a rule or the model did). */
  why?: string;
}

export interface OperationRow {
  name: string;
  method: string;
  path: string;
  summary: string;
  access: string;
  agent: string | null;
  relevance: string;
  parameters: Parameter[];
  decisions: Record<string, Decision>;
  /** A write-looking method (POST, PUT, PATCH, DELETE) marked read. */
  writeMarkedRead: boolean;
  changed: string[];
}

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

type Entry = Record<string, unknown>;

/** A proposal's field: a plain value or `{"value", "source", "confidence", "reason"}`. */
function decided(field: unknown): { value: unknown; decision?: Decision } {
  if (field && typeof field === "object" && "value" in field) {
    const { value, ...decision } = field as Entry;
    return { value, decision: decision as Decision };
  }
  return { value: field };
}

function proposedOperations(draft: ImportDraftOut): Map<string, Entry> {
  const operations = draft.proposal?.operations;
  const list: Entry[] = Array.isArray(operations)
    ? (operations as Entry[])
    : operations && typeof operations === "object"
      ? Object.entries(operations as Record<string, Entry>).map(([name, op]) => ({ name, ...op }))
      : [];
  return new Map(list.map((op) => [String(op.name), op]));
}

export function rows(draft: ImportDraftOut): OperationRow[] {
  const operations = (draft.report.operations ?? []) as Entry[];
  const proposed = proposedOperations(draft);
  return operations.map((op) => {
    const name = String(op.name);
    const proposal = proposed.get(name) ?? {};
    const overrides = draft.overrides[name] ?? {};
    const decisions: Record<string, Decision> = {};
    // The operators' last change, else the classifier's proposal, else the report's value.
    const value = (field: string, fallback: unknown) => {
      const { value: suggested, decision } = decided(proposal[field]);
      if (decision) decisions[field] = decision;
      if (field in overrides) return overrides[field];
      return suggested !== undefined ? suggested : fallback;
    };
    const proposedParameters = new Map(
      ((proposal.parameters ?? []) as Entry[]).map((p) => [String(p.name), decided(p.role)]),
    );
    const parameters = ((op.parameters ?? []) as Parameter[]).map((p) => {
      const role = proposedParameters.get(p.name);
      const key = `parameter.${p.name}.role`;
      const why = role?.decision ? `${role.decision.reason ?? ""} (${role.decision.source ?? "?"})` : undefined;
      return { ...p, role: String(key in overrides ? overrides[key] : (role?.value ?? "customer")), why };
    });
    const method = String(op.method ?? "").toUpperCase();
    const access = String(value("access", op.access ?? "read"));
    const relevance = String(value("relevance", "on"));
    const agent = (value("agent", null) as string | null) ?? null;
    const summary = String(value("summary", op.summary ?? "") ?? "");
    return {
      name,
      method,
      path: String(op.path ?? ""),
      summary,
      access,
      agent,
      relevance,
      parameters,
      decisions,
      writeMarkedRead: access === "read" && WRITE_METHODS.has(method),
      changed: Object.keys(overrides),
    };
  });
}

export interface AgentGroup {
  agent: string;
  display: string;
  tools: string[];
}

/** The agents the draft would make live, with the operators' changes applied. */
export function agents(draft: ImportDraftOut, table: OperationRow[]): AgentGroup[] {
  const proposed = ((draft.proposal?.agents ?? []) as { name: string; display_name?: string }[]).map((a) => [
    a.name,
    a.display_name ?? a.name,
  ]);
  const display = new Map(proposed.map(([n, d]) => [n, d]));
  const groups = new Map<string, string[]>();
  for (const row of table) {
    if (!row.agent || row.relevance === "off") continue;
    groups.set(row.agent, [...(groups.get(row.agent) ?? []), row.name]);
  }
  return [...groups.entries()].map(([agent, tools]) => ({ agent, display: display.get(agent) ?? agent, tools }));
}

export function agentNames(draft: ImportDraftOut, table: OperationRow[]): string[] {
  const proposed = ((draft.proposal?.agents ?? []) as { name: string }[]).map((a) => a.name);
  return [...new Set([...proposed, ...table.map((r) => r.agent).filter((a): a is string => !!a)])];
}
