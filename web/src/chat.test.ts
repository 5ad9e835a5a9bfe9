import { describe, expect, it } from "vitest";

import { type ChatState, initialState, reduce } from "./chat";
import type { ServerFrame } from "./protocol";

const C = "conv-1";

function run(frames: ServerFrame[], state: ChatState = initialState): ChatState {
  return frames.reduce((s, frame) => reduce(s, { type: "frame", frame }), state);
}

const approval = {
  approval_id: "a1",
  agent: "orders",
  args: { order_id: 1042 },
  summary: "Cancel order 1042",
  expires_at: "2030-01-01T00:00:00Z",
};

describe("the chat reducer", () => {
  it("streams tokens into one reply and ends it on reply_end", () => {
    const state = run([
      { type: "token", conversation_id: C, agent: "orders", text: "Order " },
      { type: "token", conversation_id: C, agent: "orders", text: "1042" },
    ]);
    expect(state.status).toBe("thinking");
    expect(state.items).toMatchObject([{ kind: "agent", text: "Order 1042", streaming: true }]);
    const done = run([{ type: "reply_end", conversation_id: C, agent: "orders", text: "Order 1042" }], state);
    expect(done.status).toBe("ready");
    expect(done.items).toHaveLength(1);
    expect(done.items[0]).toMatchObject({ streaming: false, text: "Order 1042" });
  });

  it("shows one approval card even when the request arrives twice", () => {
    const frame = { type: "approval_requested", conversation_id: C, ...approval } as ServerFrame;
    const state = run([frame, frame]);
    expect(state.items.filter((i) => i.kind === "approval")).toHaveLength(1);
    const expired = run(
      [{ type: "approval_resolved", conversation_id: C, approval_id: "a1", status: "expired", decided_by: "system" }],
      state,
    );
    expect(expired.items[0]).toMatchObject({ kind: "approval", status: "expired" });
  });

  it("rebuilds the conversation and its pending approval from a transcript", () => {
    const at = "2030-01-01T00:00:00Z";
    const state = run([
      {
        type: "transcript",
        conversation_id: C,
        events: [
          { seq: 1, kind: "customer_message", agent: null, data: { text: "Cancel order 1042" }, created_at: at },
          { seq: 2, kind: "approval_requested", agent: "orders", data: approval, created_at: at },
          { seq: 3, kind: "approval_requested", agent: "orders", data: approval, created_at: at },
        ],
        pending_approvals: [approval],
      },
    ]);
    expect(state.items.map((i) => i.kind)).toEqual(["customer", "approval"]);
    expect(state.items[1]).toMatchObject({ status: "pending" });
  });

  it("puts a failed decision back to pending and shows the error", () => {
    const requested = run([{ type: "approval_requested", conversation_id: C, ...approval } as ServerFrame]);
    const deciding = reduce(requested, { type: "deciding", approvalId: "a1" });
    expect(deciding.items[0]).toMatchObject({ status: "deciding" });
    const failed = run([{ type: "error", code: "store_unavailable", message: "Try again.", conversation_id: null }], deciding);
    expect(failed.items[0]).toMatchObject({ status: "pending" });
    expect(failed.items[1]).toMatchObject({ kind: "notice", tone: "error", text: "Try again." });
  });

  it("marks a message the server did not accept as not sent, and an accepted one as sent", () => {
    let state = reduce({ ...initialState, conversationId: C }, { type: "sent", text: "hello" });
    state = run([{ type: "message_accepted", conversation_id: C, text: "hello", seq: 1 }], state);
    state = reduce(state, { type: "sent", text: "again" });
    state = run([{ type: "error", conversation_id: C, code: "store_unavailable", message: "not sent" }], state);
    expect(state.items.filter((i) => i.kind === "customer")).toMatchObject([
      { text: "hello", delivery: "sent" },
      { text: "again", delivery: "failed" },
    ]);
  });

  it("shows the label of a tool frame while the agent works", () => {
    const state = run([{ type: "tool_activity", conversation_id: C, status: "started", label: "Checking our records" }]);
    expect(state.status).toBe("thinking");
    expect(state.activity).toBe("Checking our records");
  });

  it("takes the welcome text and the link domains from the conversation frame", () => {
    const state = run([
      {
        type: "conversation",
        conversation_id: C,
        token: "t",
        model_label: "offline model",
        is_offline: true,
        resumed: false,
        welcome_message: "Welcome to Harbour Shoes!",
        link_domains: ["harbour.example"],
        verified: false,
        customer: null,
      },
    ]);
    expect(state.welcomeMessage).toBe("Welcome to Harbour Shoes!");
    expect(state.linkDomains).toEqual(["harbour.example"]);
    expect(reduce(state, { type: "reset" }).welcomeMessage).toBe("Welcome to Harbour Shoes!");
  });

  it("names agents and hand-overs by their display names, never their ids", () => {
    const state = run([
      { type: "agent_selected", conversation_id: C, agent: "orders", previous: null, reason: "routed", display_name: "Orders team" },
      { type: "token", conversation_id: C, agent: "orders", text: "Order 1042 is processing." },
      { type: "reply_end", conversation_id: C, agent: "orders", text: "Order 1042 is processing." },
      { type: "agent_selected", conversation_id: C, agent: "faq", previous: "orders", reason: "routed", display_name: "Help center" },
      { type: "reply_end", conversation_id: C, agent: "faq", text: "Returns are free." },
      { type: "agent_selected", conversation_id: C, agent: "escalation", previous: "faq", reason: "escalation", display_name: null },
    ]);
    expect(state.items.filter((i) => i.kind === "agent").map((i) => i.kind === "agent" && i.name)).toEqual([
      "Orders team",
      "Help center",
    ]);
    const notices = state.items.filter((i) => i.kind === "notice").map((i) => i.kind === "notice" && i.text);
    expect(notices).toEqual(["Handed over to Help center", "Handed over to Support"]);
    expect(JSON.stringify(notices)).not.toMatch(/faq|escalation/);
  });

  it("says who the customer is and tells them when they are verified", () => {
    const start = run([
      {
        type: "conversation",
        conversation_id: C,
        token: "t",
        model_label: "offline model",
        is_offline: true,
        resumed: false,
        welcome_message: "Hi",
        link_domains: [],
        verified: false,
        customer: null,
      },
    ]);
    expect([start.verified, start.customer]).toEqual([false, null]);
    const verified = run([{ type: "customer_verified", conversation_id: C, method: "verified", customer: "Maya Chen" }], start);
    expect([verified.verified, verified.customer]).toEqual([true, "Maya Chen"]);
    expect(verified.items).toMatchObject([{ kind: "notice", text: "Thanks, Maya Chen: you're verified." }]);
  });

  it("rebuilds display names and the verification from a transcript; a signed start needs no notice", () => {
    const at = "2030-01-01T00:00:00Z";
    const events = (method: "signed" | "verified") => [
      { seq: 1, kind: "customer_verified", agent: null, data: { method, customer: "Maya Chen" }, created_at: at },
      { seq: 2, kind: "agent_selected", agent: "orders", data: { agent: "orders", previous: null, reason: "routed", display_name: "Orders team" }, created_at: at },
      { seq: 3, kind: "reply_end", agent: "orders", data: { agent: "orders", text: "Order 1042 is processing." }, created_at: at },
    ];
    const verified = run([{ type: "transcript", conversation_id: C, events: events("verified"), pending_approvals: [] }]);
    expect(verified.items).toMatchObject([
      { kind: "notice", text: "Thanks, Maya Chen: you're verified." },
      { kind: "agent", name: "Orders team" },
    ]);
    const signed = run([{ type: "transcript", conversation_id: C, events: events("signed"), pending_approvals: [] }]);
    expect(signed.items.map((i) => i.kind)).toEqual(["agent"]);
  });
});
