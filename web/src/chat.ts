// The chat's state and how each server frame changes it (a pure reducer, tested with vitest).

import type { ApprovalResolved, ApprovalView, ServerFrame, TranscriptEntry } from "./protocol";

type ApprovalStatus = ApprovalResolved["status"];

export type Status = "connecting" | "ready" | "thinking" | "offline" | "error";

export type Item =
  | { kind: "customer"; id: string; text: string; delivery: "sending" | "sent" | "failed" }
  | { kind: "agent"; id: string; agent: string; text: string; streaming: boolean }
  | { kind: "notice"; id: string; text: string; tone: "info" | "error" }
  | {
      kind: "approval";
      id: string;
      approval: ApprovalView;
      status: "pending" | "deciding" | ApprovalStatus;
    };

export interface ChatState {
  status: Status;
  conversationId: string | null;
  modelLabel: string | null;
  isOffline: boolean;
  // From the server's settings (WELCOME_MESSAGE, LINK_DOMAINS), sent in the `conversation` frame.
  welcomeMessage: string | null;
  linkDomains: string[];
  items: Item[];
  activity: string | null;
  lastError: { code: string; message: string } | null;
}

export const initialState: ChatState = {
  status: "connecting",
  conversationId: null,
  modelLabel: null,
  isOffline: false,
  welcomeMessage: null,
  linkDomains: [],
  items: [],
  activity: null,
  lastError: null,
};

export type Action =
  | { type: "frame"; frame: ServerFrame }
  | { type: "connecting" }
  | { type: "disconnected" }
  | { type: "sent"; text: string }
  | { type: "deciding"; approvalId: string }
  | { type: "reset" };

let counter = 0;
const nextId = () => `i${++counter}`;

function endStreaming(items: Item[]): Item[] {
  return items.map((it) => (it.kind === "agent" && it.streaming ? { ...it, streaming: false } : it));
}

type ApprovalItemStatus = (Item & { kind: "approval" })["status"];

function setApproval(items: Item[], approvalId: string, status: ApprovalItemStatus): Item[] {
  return items.map((it) =>
    it.kind === "approval" && it.approval.approval_id === approvalId ? { ...it, status } : it,
  );
}

export function fromTranscript(events: TranscriptEntry[], pending: ApprovalView[]): Item[] {
  let items: Item[] = [];
  const pendingIds = new Set(pending.map((p) => p.approval_id));
  for (const ev of events) {
    const data = ev.data as Record<string, unknown>;
    if (ev.kind === "customer_message" || ev.kind === "message_accepted") {
      items.push({ kind: "customer", id: `t${ev.seq}`, text: String(data.text ?? ""), delivery: "sent" });
    } else if (ev.kind === "reply_end") {
      const text = String(data.text ?? "");
      if (text) {
        items.push({
          kind: "agent",
          id: `t${ev.seq}`,
          agent: String(data.agent ?? ev.agent ?? "assistant"),
          text,
          streaming: false,
        });
      }
    } else if (ev.kind === "approval_requested") {
      const approval = data as unknown as ApprovalView;
      if (items.some((it) => it.kind === "approval" && it.approval.approval_id === approval.approval_id)) {
        continue;
      }
      items.push({
        kind: "approval",
        id: `t${ev.seq}`,
        approval,
        status: pendingIds.has(approval.approval_id) ? "pending" : "cancelled",
      });
    } else if (ev.kind === "approval_resolved") {
      items = setApproval(items, String(data.approval_id), data.status as ApprovalStatus);
    } else if (ev.kind === "error") {
      items.push({ kind: "notice", id: `t${ev.seq}`, text: String(data.message ?? ""), tone: "error" });
    }
  }
  // A pending approval missing from the log (should not happen) still gets its card.
  for (const p of pending) {
    if (!items.some((it) => it.kind === "approval" && it.approval.approval_id === p.approval_id)) {
      items.push({ kind: "approval", id: nextId(), approval: p, status: "pending" });
    }
  }
  return items;
}

export function reduce(state: ChatState, action: Action): ChatState {
  switch (action.type) {
    case "connecting":
      return { ...state, status: "connecting" };
    case "disconnected":
      return { ...state, status: "offline", activity: null, items: endStreaming(state.items) };
    case "reset":
      return { ...initialState, status: "connecting", welcomeMessage: state.welcomeMessage, linkDomains: state.linkDomains };
    case "sent":
      return {
        ...state,
        status: "thinking",
        activity: null,
        lastError: null,
        items: [...state.items, { kind: "customer", id: nextId(), text: action.text, delivery: "sending" }],
      };
    case "deciding":
      return {
        ...state,
        lastError: null,
        items: setApproval(state.items, action.approvalId, "deciding"),
      };
    case "frame":
      return onFrame(state, action.frame);
  }
}

function onFrame(state: ChatState, frame: ServerFrame): ChatState {
  switch (frame.type) {
    case "conversation":
      return {
        ...state,
        status: "ready",
        conversationId: frame.conversation_id,
        modelLabel: frame.model_label,
        isOffline: frame.is_offline,
        welcomeMessage: frame.welcome_message,
        linkDomains: frame.link_domains,
        items: frame.resumed ? state.items : [],
      };
    case "transcript":
      return { ...state, items: fromTranscript(frame.events, frame.pending_approvals) };
    case "message_accepted": {
      // The server stored it: the oldest message still "sending" is this one.
      const index = state.items.findIndex((it) => it.kind === "customer" && it.delivery === "sending");
      if (index < 0) return { ...state, status: "thinking" };
      const items = [...state.items];
      items[index] = { ...(items[index] as Item & { kind: "customer" }), delivery: "sent" };
      return { ...state, status: "thinking", items };
    }
    case "agent_selected":
      if (frame.type === "agent_selected" && frame.previous && frame.previous !== frame.agent) {
        return {
          ...state,
          status: "thinking",
          items: [
            ...state.items,
            { kind: "notice", id: nextId(), text: `Handed over to ${frame.agent}`, tone: "info" },
          ],
        };
      }
      return { ...state, status: "thinking" };
    case "token": {
      const items = [...state.items];
      const last = items[items.length - 1];
      if (last && last.kind === "agent" && last.streaming && last.agent === frame.agent) {
        items[items.length - 1] = { ...last, text: last.text + frame.text };
      } else {
        items.push({ kind: "agent", id: nextId(), agent: frame.agent, text: frame.text, streaming: true });
      }
      return { ...state, status: "thinking", activity: null, items };
    }
    case "tool_activity":
      return { ...state, status: "thinking", activity: frame.label };
    case "approval_requested": {
      const { type: _t, conversation_id: _c, ...approval } = frame;
      if (state.items.some((it) => it.kind === "approval" && it.approval.approval_id === approval.approval_id)) {
        return state;
      }
      return {
        ...state,
        status: "ready",
        activity: null,
        items: [
          ...endStreaming(state.items),
          { kind: "approval", id: nextId(), approval, status: "pending" },
        ],
      };
    }
    case "approval_resolved":
      return {
        ...state,
        status: frame.status === "approved" || frame.status === "rejected" ? "thinking" : state.status,
        items: setApproval(state.items, frame.approval_id, frame.status),
      };
    case "reply_end": {
      const items = endStreaming(state.items);
      const last = items[items.length - 1];
      if (last && last.kind === "agent" && last.agent === frame.agent && frame.text.startsWith(last.text.trim())) {
        items[items.length - 1] = { ...last, text: frame.text || last.text };
      } else if (frame.text && !(last && last.kind === "agent" && last.text.trim() === frame.text.trim())) {
        items.push({ kind: "agent", id: nextId(), agent: frame.agent, text: frame.text, streaming: false });
      }
      return { ...state, status: "ready", activity: null, items };
    }
    case "error": {
      // An error before `message_accepted` means the message was not taken: say so on it.
      const items = state.items.map((it) =>
        it.kind === "approval" && it.status === "deciding"
          ? { ...it, status: "pending" as const }
          : it.kind === "customer" && it.delivery === "sending"
            ? { ...it, delivery: "failed" as const }
            : it,
      );
      return {
        ...state,
        // Without a conversation nothing works until a new start succeeds.
        status: state.conversationId === null ? "error" : "ready",
        activity: null,
        lastError: { code: frame.code, message: frame.message },
        items: [...endStreaming(items), { kind: "notice", id: nextId(), text: frame.message, tone: "error" }],
      };
    }
    case "customer_verified": // shown by the identity work, not yet
    case "pong":
      return state;
  }
}
