import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { queryString } from "./api";
import type { Analytics, ImportDraftOut, OperatorApproval } from "./api-types";
import { ApprovalItem } from "./Approvals";
import { ConversationTable, filterQuery, NO_FILTERS } from "./Conversations";
import { cards, customRange, Figures } from "./Dashboard";
import { operatorSocketUrl } from "./operatorSocket";
import { money, percent, step, timeLeft } from "./format";
import { StepRow } from "./Replay";
import { agents, rows } from "./review";
import { appendPage, aroundSeq, EMPTY, earlierQuery, hasEarlier, prependPage } from "./timeline";
import { parseRoute } from "./route";
import { ConsoleOff } from "./SignIn";
import { Failure } from "./states";

const ZERO_USAGE = { model_calls: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };

function analytics(changes: Partial<Analytics> = {}): Analytics {
  return {
    since: "2026-11-01T00:00:00Z",
    until: "2026-12-01T00:00:00Z",
    bucket: "day",
    conversations: 0,
    turns: 0,
    escalations: 0,
    escalation_share: 0,
    resolved: null,
    resolution_rate: null,
    cost_per_resolution_usd: null,
    outcomes: {},
    abandoned: null,
    abandonment_rate: null,
    feedback: { up: 0, down: 0, satisfaction: null },
    agents: {},
    approvals: { requested: 0, approved: 0, rejected: 0, expired: 0, cancelled: 0, pending: 0, median_seconds_to_decide: null },
    usage: ZERO_USAGE,
    usage_by_agent: {},
    usage_by_model: {},
    series: [],
    ...changes,
  };
}

describe("the console's routes", () => {
  it("open the approvals by default and a replay by conversation id", () => {
    expect(parseRoute("")).toEqual({ page: "approvals" });
    expect(parseRoute("#/dashboard")).toEqual({ page: "dashboard" });
    expect(parseRoute("#/conversations/abc%20d")).toEqual({ page: "replay", conversationId: "abc d" });
  });
});

describe("the sign-in", () => {
  it("says how to turn the console on when no token is configured", () => {
    const html = renderToStaticMarkup(<ConsoleOff />);
    expect(html).toContain("The operator console is off");
    expect(html).toContain("OPERATOR_TOKEN");
  });

  it("shows errors as an alert with a retry", () => {
    const html = renderToStaticMarkup(<Failure message="The server cannot be reached." onRetry={() => undefined} />);
    expect(html).toContain('role="alert"');
    expect(html).toContain("Try again");
  });
});

describe("the approvals inbox", () => {
  const approval: OperatorApproval = {
    approval_id: "ap1",
    agent: "orders",
    summary: "Cancel order 1042",
    args: { order_id: 1042 },
    expires_at: "2026-12-01T12:05:00Z",
    tool: "cancel_order",
    conversation_id: "conv1",
    status: "pending",
    created_at: "2026-12-01T12:00:00Z",
    decided_at: null,
    decided_by: null,
  };

  it("shows the summary, the exact arguments, the agent and the time left", () => {
    const api = {} as never;
    const now = Date.parse("2026-12-01T12:01:00Z");
    const html = renderToStaticMarkup(<ApprovalItem approval={approval} now={now} api={api} onDecided={() => undefined} />);
    expect(html).toContain("Cancel order 1042");
    expect(html).toContain("&quot;order_id&quot;: 1042");
    expect(html).toContain("orders");
    expect(html).toContain("4m 00s left");
    expect(html).toContain("Approve");
    expect(html).toContain("Reject");
  });

  it("counts down to expired", () => {
    expect(timeLeft("2026-12-01T12:00:00Z", Date.parse("2026-12-01T12:00:01Z"))).toBe("expired");
    expect(timeLeft("2026-12-01T14:00:00Z", Date.parse("2026-12-01T12:00:00Z"))).toBe("2h 00m left");
  });
});

describe("the conversation list", () => {
  it("sends only the filters set, until a day inclusive, and pages by the last id", () => {
    const query = filterQuery({ ...NO_FILTERS, outcome: "open", escalated: "false", until: "2026-12-01" }, "c9");
    expect(query.outcome).toBe("open");
    expect(query.escalated).toBe("false");
    expect(query.before).toBe("c9");
    expect(new Date(String(query.until)).getTime()).toBe(new Date("2026-12-02T00:00:00").getTime());
    expect(queryString({ a: undefined, b: "", kind: ["x", "y"], n: 0 })).toBe("?kind=x&kind=y&n=0");
  });

  it("links each row to its replay", () => {
    const html = renderToStaticMarkup(
      <ConversationTable
        rows={[{ conversation_id: "c1", created_at: "2026-12-01T12:00:00Z", active_agent: "orders", escalated: false, outcome: null, closed_at: null }]}
      />,
    );
    expect(html).toContain('href="#/conversations/c1"');
    expect(html).toContain("open");
  });
});

describe("the replay timeline", () => {
  it("shows a tool call's arguments, result and duration, and a step's tokens and cost", () => {
    const item = step({
      seq: 3,
      kind: "tool_activity",
      agent: "orders",
      created_at: "2026-12-01T12:00:00Z",
      data: {
        tool: "get_order",
        status: "succeeded",
        detail: '{"status": "shipped"}',
        duration_ms: 12,
        model_calls: [{ input_tokens: 100, output_tokens: 20, cost_usd: 0.002 }],
      },
    });
    expect(item.tone).toBe("tool");
    const html = renderToStaticMarkup(<StepRow item={item} />);
    expect(html).toContain("Tool get_order succeeded");
    expect(html).toContain("12 ms");
    expect(html).toContain("120 tokens");
    expect(html).toContain('id="step-3"');
  });

  it("names the router's reason and who decided an approval", () => {
    const routed = step({ seq: 1, kind: "agent_selected", agent: "orders", created_at: "", data: { agent: "orders", reason: "routed", decision: { method: "model" } } });
    expect(routed.title).toBe("Routed to orders");
    expect(routed.facts).toContainEqual(["method", "model"]);
    const decided = step({ seq: 2, kind: "approval_resolved", agent: null, created_at: "", data: { status: "approved", decided_by: "operator" } });
    expect(decided.facts).toContainEqual(["decided by", "operator"]);
    expect(step({ seq: 4, kind: "turn_error", agent: null, created_at: "", data: { code: "tool_error", message: "x" } }).tone).toBe("error");
  });
});

describe("the dashboard", () => {
  it("has a real zero state on a new install", () => {
    const html = renderToStaticMarkup(<Figures analytics={analytics()} />);
    expect(html).toContain("No conversations in this range yet");
    expect(html).not.toContain("recharts");
  });

  it("shows the figures as cards, null rates as a dash", () => {
    const figures = Object.fromEntries(
      cards(analytics({ conversations: 4, escalation_share: 0.25, resolution_rate: null })).map(([id, , v]) => [id, v]),
    );
    expect(figures.conversations).toBe("4");
    expect(figures.escalation).toBe("25%");
    expect(figures.resolution).toBe("—");
    expect(money(0.5)).toBe("$0.50");
    expect(percent(null)).toBe("—");
  });
});

describe("the import review", () => {
  const draft = {
    id: "imp1",
    status: "draft",
    report: {
      operations: [
        { name: "get_order", method: "GET", path: "/orders/{id}", access: "read", parameters: [{ name: "id" }] },
        { name: "cancel_order", method: "POST", path: "/orders/{id}/cancel", access: "write", parameters: [] },
      ],
    },
    proposal: {
      agents: [{ name: "order", display_name: "Order" }],
      operations: [
        { name: "get_order", agent: "order", access: { value: "read", source: "rule", reason: "GET" }, relevance: { value: "on" }, parameters: [{ name: "id", role: { value: "customer", reason: "said", source: "rule" } }] },
        { name: "cancel_order", agent: "order", access: { value: "write", source: "rule", reason: "says cancel" }, relevance: { value: "on" }, parameters: [] },
      ],
    },
    overrides: { cancel_order: { access: "read" } },
    warnings: [],
  } as unknown as ImportDraftOut;

  it("reads each decision from the operators' changes, then the proposal, with its reason", () => {
    const [get, cancel] = rows(draft);
    expect(get.agent).toBe("order");
    expect(get.decisions.access.reason).toBe("GET");
    expect(get.parameters[0].role).toBe("customer");
    expect(cancel.access).toBe("read");
    expect(cancel.changed).toEqual(["access"]);
  });

  it("warns about a write-looking operation marked read, and lists the generated agents", () => {
    const table = rows(draft);
    expect(table.map((r) => r.writeMarkedRead)).toEqual([false, true]);
    expect(agents(draft, table)).toEqual([{ agent: "order", display: "Order", tools: ["get_order", "cancel_order"] }]);
  });
});

describe("the dashboard's custom range", () => {
  it("is whole days, the last one inclusive, and refuses an end before the start", () => {
    const range = customRange("2026-11-01", "2026-11-30");
    expect(range).not.toBeNull();
    expect(new Date(range!.until).getTime() - new Date(range!.since).getTime()).toBeGreaterThanOrEqual(29 * 86_400_000);
    expect(customRange("2026-11-30", "2026-11-01")).toBeNull();
    expect(customRange("", "2026-11-01")).toBeNull();
  });
});

describe("the operator socket", () => {
  it("is on the page's own host, wss under https", () => {
    expect(operatorSocketUrl({ protocol: "https:", host: "support.example" })).toBe("wss://support.example/ws/v1/operator");
    expect(operatorSocketUrl({ protocol: "http:", host: "127.0.0.1:8000" })).toBe("ws://127.0.0.1:8000/ws/v1/operator");
  });
});

describe("the replay's window", () => {
  const ev = (seq: number) => ({ seq, kind: "customer_message", agent: null, data: {}, created_at: "" });
  const page = (from: number, to: number, last: boolean) => ({
    events: Array.from({ length: to - from + 1 }, (_, i) => ev(from + i)),
    next_after: last ? null : to,
    has_more: !last,
  });

  it("appends pages and lets the oldest go past its size", () => {
    let w = appendPage(EMPTY, page(1, 4, false), 6);
    expect(hasEarlier(w)).toBe(false);
    w = appendPage(w, page(5, 8, true), 6);
    expect(w.events.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7, 8]);
    expect(w.next).toBeNull();
    expect(hasEarlier(w)).toBe(true);
    expect(earlierQuery(w, 4)).toEqual({ after: 0, limit: 2 });
  });

  it("prepends an earlier page and lets the newest go, to be read again", () => {
    const w = appendPage(EMPTY, page(11, 16, true), 6);
    const back = prependPage(w, page(7, 10, false).events, 6);
    expect(back.events.map((e) => e.seq)).toEqual([7, 8, 9, 10, 11, 12]);
    expect(back.next).toBe(12);
    expect(aroundSeq(500)).toBe(479);
    expect(aroundSeq(3)).toBe(0);
  });
});
