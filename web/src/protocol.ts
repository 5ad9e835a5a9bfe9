// Frames of the chat WebSocket, version 1 (`/ws/v1`). See docs/protocol.md.

export type ClientFrame =
  | { type: "start" }
  | { type: "resume"; conversation_id: string; token: string }
  | { type: "message"; text: string }
  | { type: "decision"; approval_id: string; decision: "approve" | "reject" }
  | { type: "ping" };

export interface PendingApproval {
  approval_id: string;
  agent: string;
  tool: string;
  args: Record<string, unknown>;
  summary: string;
  expires_at: string;
}

export interface TranscriptEntry {
  seq: number;
  kind: string;
  agent: string | null;
  data: Record<string, unknown>;
  created_at: string;
}

export type ApprovalStatus = "approved" | "rejected" | "expired" | "cancelled";

export type ServerFrame =
  | {
      type: "conversation";
      conversation_id: string;
      token: string;
      model_label: string;
      is_offline: boolean;
      resumed: boolean;
    }
  | {
      type: "transcript";
      conversation_id: string;
      events: TranscriptEntry[];
      pending_approvals: PendingApproval[];
    }
  | { type: "message_accepted"; conversation_id: string; text: string; seq: number }
  | {
      type: "agent_selected";
      conversation_id: string;
      agent: string;
      previous: string | null;
      reason: string;
    }
  | { type: "token"; conversation_id: string; agent: string; text: string }
  | {
      type: "tool";
      conversation_id: string;
      agent: string;
      tool: string;
      call_id: string;
      status: "started" | "succeeded" | "failed";
    }
  | ({ type: "approval_requested"; conversation_id: string } & PendingApproval)
  | {
      type: "approval_resolved";
      conversation_id: string;
      approval_id: string;
      status: ApprovalStatus;
      decided_by: string | null;
    }
  | { type: "reply_end"; conversation_id: string; agent: string; text: string }
  | { type: "pong" }
  | { type: "error"; code: string; message: string; conversation_id?: string | null };
