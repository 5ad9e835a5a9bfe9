import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import type { OperatorApprovalRequestedFrame } from "../protocol";
import type { DeliveryOut, OperatorApproval } from "./api-types";
import { applyApprovalFrame } from "./Approvals";
import { lineOf } from "./Escalations";
import { parseRoute } from "./route";
import { DeliveryRow, safeEndpoint, safeError } from "./Webhooks";

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

describe("the live approvals inbox", () => {
  const frame: OperatorApprovalRequestedFrame = {
    ...approval,
    type: "approval_requested",
    approval_id: "ap0",
    created_at: "2026-12-01T11:00:00Z",
  };

  it("adds a requested approval once, oldest first, without its frame type", () => {
    const list = applyApprovalFrame([approval], frame);
    expect(list.map((a) => a.approval_id)).toEqual(["ap0", "ap1"]);
    expect(list[0]).not.toHaveProperty("type");
    expect(applyApprovalFrame(list, frame)).toBe(list);
  });

  it("drops a resolved approval and ignores other frames", () => {
    const resolved = {
      type: "approval_resolved",
      approval_id: "ap1",
      conversation_id: "conv1",
      status: "approved",
      decided_by: "customer",
    } as const;
    expect(applyApprovalFrame([approval], resolved)).toEqual([]);
    expect(applyApprovalFrame([approval], { type: "pong" })).toEqual([approval]);
  });
});

describe("the escalations page", () => {
  it("has routes for escalations and webhooks", () => {
    expect(parseRoute("#/escalations")).toEqual({ page: "escalations" });
    expect(parseRoute("#/webhooks")).toEqual({ page: "webhooks" });
  });

  it("shows a person's message under their name and the hand-off as a note", () => {
    const base = { agent: null, created_at: "2026-12-01T12:00:00Z" };
    expect(lineOf({ ...base, seq: 1, kind: "person_message", data: { name: "Sam", text: "Hi" } })).toMatchObject({
      from: "person",
      who: "Sam",
      text: "Hi",
    });
    expect(lineOf({ ...base, seq: 2, kind: "handoff", data: { reason: "wants a person" } })?.text).toBe(
      "Handed to a person: wants a person",
    );
    expect(lineOf({ ...base, seq: 3, kind: "tool_activity", data: {} })).toBeNull();
  });
});

describe("the webhook outbox", () => {
  const dead: DeliveryOut = {
    id: "wh_1",
    endpoint: "https://hooks.example.com/in/abc?token=s3cret",
    event_type: "conversation.escalated",
    conversation_id: "conv1",
    status: "dead",
    attempts: 3,
    next_attempt_at: "2026-12-01T12:00:00Z",
    last_status: 500,
    last_error: "HTTP 500",
    created_at: "2026-12-01T12:00:00Z",
    delivered_at: null,
    payload: {},
  };

  it("never shows an endpoint's query string or credentials", () => {
    expect(safeEndpoint("https://hooks.example.com/in/abc?token=s3cret#x")).toBe("https://hooks.example.com/in/abc");
    expect(safeEndpoint("https://user:pw@hooks.example.com/p")).toBe("https://hooks.example.com/p");
    expect(safeError("timed out: https://h.example/x?key=abc (after 10 s)")).toBe(
      "timed out: https://h.example/x (after 10 s)",
    );
  });

  function row(delivery: DeliveryOut): string {
    return renderToStaticMarkup(
      <table>
        <tbody>
          <DeliveryRow delivery={delivery} api={{} as never} onChanged={() => undefined} />
        </tbody>
      </table>,
    );
  }

  it("offers Retry on a dead letter, with its attempts and last answer, and no secret", () => {
    const html = row(dead);
    expect(html).toContain("Retry");
    expect(html).toContain("HTTP 500");
    expect(html).not.toContain("s3cret");
    expect(html).not.toContain("Enable endpoint");
  });

  it("offers enabling a disabled endpoint, and nothing on a pending delivery", () => {
    expect(row({ ...dead, status: "disabled", last_status: 410 })).toContain("Enable endpoint");
    const pending = row({ ...dead, status: "pending" });
    expect(pending).not.toContain("Retry");
    expect(pending).not.toContain("Enable endpoint");
  });
});
