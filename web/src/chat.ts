// The chat's state and how each server frame changes it (a pure reducer, tested with vitest).

import type { ApprovalResolved, ApprovalView, FeedbackFrame, ServerFrame, TranscriptEntry } from "./protocol";

type ApprovalStatus = ApprovalResolved["status"];
export type Rating = FeedbackFrame["rating"];

export type Status = "connecting" | "ready" | "thinking" | "offline" | "error";

export type Item =
  | { kind: "customer"; id: string; text: string; delivery: "sending" | "sent" | "failed" }
  // `agent` is the agent's id (to join its tokens); `name` is what the customer sees.
  // `replyId` names the finished reply for a rating (null while it streams, and for replies
  // stored before replies had ids); `rating` is the customer's, once the server recorded it.
  | {
      kind: "agent";
      id: string;
      agent: string;
      name: string;
      text: string;
      streaming: boolean;
      replyId: string | null;
      rating: Rating | null;
    }
  // A person from the support team who took the conversation over: shown with their name.
  | { kind: "person"; id: string; name: string; text: string }
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
  // Who the customer is, as the server names them (never taken from the host page or the token).
  verified: boolean;
  customer: string | null;
  // Agent id -> display name (agents.yaml display_name), from `agent_selected` frames.
  agentNames: Record<string, string>;
  // The person holding the conversation (the agents are silent meanwhile); null otherwise.
  person: string | null;
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
  verified: false,
  customer: null,
  agentNames: {},
  person: null,
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

/** What the customer sees for an agent whose display name is not known (never its id). */
export const FALLBACK_AGENT_NAME = "Support";

export function agentLabel(names: Record<string, string>, agent: string): string {
  return names[agent] ?? FALLBACK_AGENT_NAME;
}

/** Errors of a rating: they say so, and leave the conversation's turn and messages alone. */
const FEEDBACK_ERRORS = new Set(["unknown_reply", "feedback_limit"]);

export function verifiedNotice(customer: string): string {
  return `Thanks, ${customer}: you're verified.`;
}

/** How a person from the team is named above their messages (never an agent's label). */
export function personLabel(name: string): string {
  return `${name} (support team)`;
}

export function joinedNotice(name: string): string {
  return `${name} joined the conversation`;
}

export function leftNotice(name: string): string {
  return `${name} left the conversation`;
}

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

export function fromTranscript(
  events: TranscriptEntry[],
  pending: ApprovalView[],
  known: Record<string, string> = {},
): { items: Item[]; agentNames: Record<string, string>; person: string | null } {
  let items: Item[] = [];
  let person: string | null = null;
  const agentNames = { ...known };
  const pendingIds = new Set(pending.map((p) => p.approval_id));
  for (const ev of events) {
    const data = ev.data as Record<string, unknown>;
    if (ev.kind === "agent_selected") {
      if (typeof data.display_name === "string" && typeof data.agent === "string") {
        agentNames[data.agent] = data.display_name;
      }
    } else if (ev.kind === "customer_verified") {
      // A signed identity is shown in the header; verification in the chat gets its notice.
      if (data.method === "verified") {
        items.push({ kind: "notice", id: `t${ev.seq}`, text: verifiedNotice(String(data.customer ?? "")), tone: "info" });
      }
    } else if (ev.kind === "customer_message" || ev.kind === "message_accepted") {
      items.push({ kind: "customer", id: `t${ev.seq}`, text: String(data.text ?? ""), delivery: "sent" });
    } else if (ev.kind === "reply_end") {
      const text = String(data.text ?? "");
      if (text) {
        const agent = String(data.agent ?? ev.agent ?? "");
        items.push({
          kind: "agent",
          id: `t${ev.seq}`,
          agent,
          name: agentLabel(agentNames, agent),
          text,
          streaming: false,
          replyId: typeof data.reply_id === "string" ? data.reply_id : null,
          rating: ev.rating ?? null,
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
    } else if (ev.kind === "person_joined" || ev.kind === "person_left") {
      const name = String(data.name ?? "");
      const joined = ev.kind === "person_joined";
      person = joined ? name : null;
      items.push({ kind: "notice", id: `t${ev.seq}`, text: joined ? joinedNotice(name) : leftNotice(name), tone: "info" });
    } else if (ev.kind === "person_message") {
      items.push({ kind: "person", id: `t${ev.seq}`, name: String(data.name ?? ""), text: String(data.text ?? "") });
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
  return { items, agentNames, person };
}

export function reduce(state: ChatState, action: Action): ChatState {
  switch (action.type) {
    case "connecting":
      return { ...state, status: "connecting" };
    case "disconnected":
      return { ...state, status: "offline", activity: null, items: endStreaming(state.items) };
    case "reset":
      return {
        ...initialState,
        status: "connecting",
        welcomeMessage: state.welcomeMessage,
        linkDomains: state.linkDomains,
        agentNames: state.agentNames,
      };
    case "sent":
      return {
        ...state,
        // A person reads it in their own time: no "thinking" while one holds the conversation.
        status: state.person === null ? "thinking" : state.status,
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
        verified: frame.verified,
        customer: frame.customer,
        items: frame.resumed ? state.items : [],
      };
    case "transcript": {
      const { items, agentNames, person } = fromTranscript(frame.events, frame.pending_approvals, state.agentNames);
      return { ...state, items, agentNames, person };
    }
    case "message_accepted": {
      // The server stored it: the oldest message still "sending" is this one. While a person
      // holds the conversation no agent answers: the chat does not wait for one.
      const status = state.person === null ? "thinking" : "ready";
      const index = state.items.findIndex((it) => it.kind === "customer" && it.delivery === "sending");
      if (index < 0) return { ...state, status };
      const items = [...state.items];
      items[index] = { ...(items[index] as Item & { kind: "customer" }), delivery: "sent" };
      return { ...state, status, items };
    }
    case "person_joined":
      return {
        ...state,
        person: frame.name,
        items: [...state.items, { kind: "notice", id: nextId(), text: joinedNotice(frame.name), tone: "info" }],
      };
    case "person_message":
      return {
        ...state,
        items: [
          ...endStreaming(state.items),
          { kind: "person", id: nextId(), name: frame.name, text: frame.text },
        ],
      };
    case "person_left":
      return {
        ...state,
        person: null,
        items: [...state.items, { kind: "notice", id: nextId(), text: leftNotice(frame.name), tone: "info" }],
      };
    case "agent_selected": {
      const agentNames = frame.display_name
        ? { ...state.agentNames, [frame.agent]: frame.display_name }
        : state.agentNames;
      if (frame.previous && frame.previous !== frame.agent) {
        const name = agentLabel(agentNames, frame.agent);
        return {
          ...state,
          status: "thinking",
          agentNames,
          items: [...state.items, { kind: "notice", id: nextId(), text: `Handed over to ${name}`, tone: "info" }],
        };
      }
      return { ...state, status: "thinking", agentNames };
    }
    case "token": {
      const items = [...state.items];
      const last = items[items.length - 1];
      if (last && last.kind === "agent" && last.streaming && last.agent === frame.agent) {
        items[items.length - 1] = { ...last, text: last.text + frame.text };
      } else {
        items.push({
          kind: "agent",
          id: nextId(),
          agent: frame.agent,
          name: agentLabel(state.agentNames, frame.agent),
          text: frame.text,
          streaming: true,
          replyId: null,
          rating: null,
        });
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
      const reply = { replyId: frame.reply_id, rating: null };
      if (last && last.kind === "agent" && last.agent === frame.agent && frame.text.startsWith(last.text.trim())) {
        items[items.length - 1] = { ...last, text: frame.text || last.text, ...reply };
      } else if (frame.text && !(last && last.kind === "agent" && last.text.trim() === frame.text.trim())) {
        items.push({
          kind: "agent",
          id: nextId(),
          agent: frame.agent,
          name: agentLabel(state.agentNames, frame.agent),
          text: frame.text,
          streaming: false,
          ...reply,
        });
      } else if (last && last.kind === "agent" && last.replyId === null) {
        items[items.length - 1] = { ...last, ...reply };
      }
      return { ...state, status: "ready", activity: null, items };
    }
    case "feedback_recorded":
      return {
        ...state,
        items: state.items.map((it) =>
          it.kind === "agent" && it.replyId === frame.reply_id ? { ...it, rating: frame.rating } : it,
        ),
      };
    case "error": {
      if (FEEDBACK_ERRORS.has(frame.code)) {
        return {
          ...state,
          items: [...state.items, { kind: "notice", id: nextId(), text: frame.message, tone: "error" }],
        };
      }
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
    case "customer_verified":
      return {
        ...state,
        verified: true,
        customer: frame.customer,
        items:
          frame.method === "verified"
            ? [...state.items, { kind: "notice", id: nextId(), text: verifiedNotice(frame.customer), tone: "info" }]
            : state.items,
      };
    case "pong":
      return state;
  }
}
