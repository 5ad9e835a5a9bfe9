// Pure helpers of the console's pages (tested with vitest): numbers, times and replay steps.

import type { LoggedEvent, UsageTotals } from "./api-types";

export function money(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  if (usd === 0) return "$0";
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined) return "—";
  return `${Math.round(share * 1000) / 10}%`;
}

/** "4m 05s left", "expired": what remains until `expiresAt` at `now`. */
export function timeLeft(expiresAt: string, now: number): string {
  const ms = Date.parse(expiresAt) - now;
  if (!(ms > 0)) return "expired";
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m left`;
  return `${m}m ${String(s).padStart(2, "0")}s left`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export interface ModelCall {
  purpose?: string;
  model?: string;
  input_tokens?: number;
  output_tokens?: number;
  cost_usd?: number;
  duration_ms?: number;
}

/** One step of a replay as the timeline shows it. */
export interface Step {
  seq: number;
  kind: string;
  /** "message", "routing", "tool", "approval", "error", "reply", "other". */
  tone: string;
  title: string;
  detail: string;
  /** Key facts (arguments, results, reasons) shown under the step. */
  facts: [string, string][];
  tokens: number;
  cost: number;
  at: string;
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function calls(data: Record<string, unknown>): ModelCall[] {
  const list = data.model_calls;
  return Array.isArray(list) ? (list as ModelCall[]) : [];
}

export function step(event: LoggedEvent): Step {
  const d = event.data ?? {};
  const used = calls(d);
  const base: Step = {
    seq: event.seq,
    kind: event.kind,
    tone: "other",
    title: event.kind.replace(/_/g, " "),
    detail: "",
    facts: [],
    tokens: used.reduce((n, c) => n + (c.input_tokens ?? 0) + (c.output_tokens ?? 0), 0),
    cost: used.reduce((n, c) => n + (c.cost_usd ?? 0), 0),
    at: event.created_at,
  };
  switch (event.kind) {
    case "customer_message":
      return { ...base, tone: "message", title: "Customer", detail: text(d.text) };
    case "agent_selected": {
      const decision = (d.decision ?? {}) as Record<string, unknown>;
      const facts: [string, string][] = [["reason", text(d.reason)]];
      if (decision.method) facts.push(["method", text(decision.method)]);
      if (decision.asked_because) facts.push(["asked because", text(decision.asked_because)]);
      if (decision.scores) facts.push(["scores", text(decision.scores)]);
      if (d.previous) facts.push(["previous", text(d.previous)]);
      return { ...base, tone: "routing", title: `Routed to ${text(d.agent)}`, facts };
    }
    case "tool_activity": {
      const status = text(d.status);
      const facts: [string, string][] = [];
      const args = d.args as Record<string, unknown> | undefined;
      if (args !== undefined && (status === "started" || Object.keys(args ?? {}).length > 0))
        facts.push(["arguments", text(args)]);
      if (d.detail !== undefined && d.detail !== null) facts.push(["result", text(d.detail)]);
      if (typeof d.duration_ms === "number") facts.push(["duration", `${d.duration_ms} ms`]);
      if (d.guard) facts.push(["guard", text(d.guard)]);
      if (d.error) facts.push(["error", text(d.error)]);
      return {
        ...base,
        tone: status === "failed" ? "error" : "tool",
        title: `Tool ${text(d.tool)} ${status}`,
        facts,
      };
    }
    case "approval_requested":
      return {
        ...base,
        tone: "approval",
        title: `Approval asked: ${text(d.tool)}`,
        detail: text(d.summary),
        facts: [
          ["arguments", text(d.args)],
          ["expires", when(text(d.expires_at))],
        ],
      };
    case "approval_resolved": {
      const facts: [string, string][] = [["decided by", text(d.decided_by)]];
      if (typeof d.waited_seconds === "number") facts.push(["waited", `${Math.round(d.waited_seconds)} s`]);
      facts.push(["when", when(event.created_at)]);
      return { ...base, tone: "approval", title: `Approval ${text(d.status)}`, facts };
    }
    case "turn_error": {
      const facts: [string, string][] = [["code", text(d.code)]];
      if (d.detail) facts.push(["detail", text(d.detail)]);
      return { ...base, tone: "error", title: "Error", detail: text(d.message), facts };
    }
    case "reply_end":
      return { ...base, tone: "reply", title: `Reply from ${text(d.agent ?? event.agent)}`, detail: text(d.text) };
    case "handoff":
      return { ...base, tone: "error", title: "Handed to a person", detail: text(d.reason) };
    default:
      return { ...base, detail: text(d.text ?? "") };
  }
}

export function tokens(usage: UsageTotals | undefined): number {
  return usage ? usage.input_tokens + usage.output_tokens : 0;
}

/** ISO instants of the last `days` days up to now (the dashboard's ranges). */
export function lastDays(days: number, now: Date = new Date()): { since: string; until: string } {
  const until = new Date(now.getTime() + 60_000);
  const since = new Date(now.getTime() - days * 86_400_000);
  return { since: since.toISOString(), until: until.toISOString() };
}
