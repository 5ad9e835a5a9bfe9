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
    const done = run([{ type: "reply_end", conversation_id: C, agent: "orders", text: "Order 1042", reply_id: "r1" }], state);
    expect(done.status).toBe("ready");
    expect(done.items).toHaveLength(1);
    expect(done.items[0]).toMatchObject({ streaming: false, text: "Order 1042", replyId: "r1", rating: null });
  });

  it("shows one approval card even when the request arrives twice", () => {
    const frame = { type: "approval_requested", conversation_id: C, ...approval } as ServerFrame;
    const state = run([frame, frame]);
    expect(state.items.filter((i) => i.kind === "approval")).toHaveLength(1);
    const expired = run(
      [{ type: "approval_resolved", conversation_id: C, approval_id: "a1", status: "expired", decided_by: "system" } as ServerFrame],
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
          { seq: 1, kind: "customer_message", agent: null, data: { text: "Cancel order 1042" }, created_at: at, rating: null },
          { seq: 2, kind: "approval_requested", agent: "orders", data: approval, created_at: at, rating: null },
          { seq: 3, kind: "approval_requested", agent: "orders", data: approval, created_at: at, rating: null },
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
      { type: "reply_end", conversation_id: C, agent: "orders", text: "Order 1042 is processing.", reply_id: "r1" },
      { type: "agent_selected", conversation_id: C, agent: "faq", previous: "orders", reason: "routed", display_name: "Help center" },
      { type: "reply_end", conversation_id: C, agent: "faq", text: "Returns are free.", reply_id: "r2" },
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
      { seq: 1, kind: "customer_verified", agent: null, data: { method, customer: "Maya Chen" }, created_at: at, rating: null },
      { seq: 2, kind: "agent_selected", agent: "orders", data: { agent: "orders", previous: null, reason: "routed", display_name: "Orders team" }, created_at: at, rating: null },
      { seq: 3, kind: "reply_end", agent: "orders", data: { agent: "orders", text: "Order 1042 is processing." }, created_at: at, rating: null },
    ];
    const verified = run([{ type: "transcript", conversation_id: C, events: events("verified"), pending_approvals: [] }]);
    expect(verified.items).toMatchObject([
      { kind: "notice", text: "Thanks, Maya Chen: you're verified." },
      { kind: "agent", name: "Orders team" },
    ]);
    const signed = run([{ type: "transcript", conversation_id: C, events: events("signed"), pending_approvals: [] }]);
    expect(signed.items.map((i) => i.kind)).toEqual(["agent"]);
  });

  it("names a finished reply by its reply id and shows the rating only once the server recorded it", () => {
    const state = run([
      { type: "token", conversation_id: C, agent: "orders", text: "Order 1042 is processing." },
      { type: "reply_end", conversation_id: C, agent: "orders", text: "Order 1042 is processing.", reply_id: "r1" },
      { type: "reply_end", conversation_id: C, agent: "orders", text: "Anything else?", reply_id: "r2" },
    ]);
    expect(state.items).toMatchObject([
      { kind: "agent", replyId: "r1", rating: null },
      { kind: "agent", replyId: "r2", rating: null },
    ]);
    const rated = run([{ type: "feedback_recorded", conversation_id: C, reply_id: "r1", rating: "down" }], state);
    expect(rated.items.map((i) => i.kind === "agent" && i.rating)).toEqual(["down", null]);
    const changed = run([{ type: "feedback_recorded", conversation_id: C, reply_id: "r1", rating: "up" }], rated);
    expect(changed.items[0]).toMatchObject({ rating: "up" });
  });

  it("has no reply id while a reply streams", () => {
    const state = run([{ type: "token", conversation_id: C, agent: "orders", text: "Order" }]);
    expect(state.items[0]).toMatchObject({ streaming: true, replyId: null });
  });

  it("says a rating failed without failing the customer's message or ending the turn", () => {
    let state = reduce({ ...initialState, conversationId: C }, { type: "sent", text: "hello" });
    state = run(
      [{ type: "error", conversation_id: C, code: "unknown_reply", message: "We couldn't find that reply." }],
      state,
    );
    expect(state.status).toBe("thinking");
    expect(state.items).toMatchObject([
      { kind: "customer", delivery: "sending" },
      { kind: "notice", tone: "error", text: "We couldn't find that reply." },
    ]);
  });

  it("rebuilds reply ids and the latest ratings from a transcript", () => {
    const at = "2030-01-01T00:00:00Z";
    const reply = (seq: number, data: Record<string, unknown>, rating: "up" | "down" | null) => ({
      seq,
      kind: "reply_end",
      agent: "orders",
      data: { agent: "orders", ...data },
      created_at: at,
      rating,
    });
    const state = run([
      {
        type: "transcript",
        conversation_id: C,
        events: [
          reply(1, { text: "Order 1042 is processing.", reply_id: "r1" }, "down"),
          reply(2, { text: "Anything else?", reply_id: "r2" }, null),
          reply(3, { text: "Stored before replies had ids." }, null),
        ],
        pending_approvals: [],
      },
    ]);
    expect(state.items.map((i) => i.kind === "agent" && [i.replyId, i.rating])).toEqual([
      ["r1", "down"],
      ["r2", null],
      [null, null],
    ]);
  });
});
