// Frames of the chat WebSocket, version 1 (`/ws/v1`), and of the operator socket
// (`/ws/v1/operator`). See docs/protocol.md.
// GENERATED from the server's pydantic models: do not edit. Regenerate with
//   python -m smart_support.server.schema_export

/** The supervisor handed the conversation to an agent (or kept it with the same one). */
export interface AgentSelected {
  conversation_id: string;
  type: "agent_selected";
  agent: string;
  previous: string | null;
  reason: "routed" | "follow_up" | "fallback" | "escalation" | "resume";
  display_name: string | null;
}

/**
 * A write action waits for the customer's decision (`ApprovalRequested` without the tool
 * name).
 */
export interface ApprovalRequestedFrame {
  approval_id: string;
  agent: string;
  /** The action in plain words. */
  summary: string;
  /** The exact arguments that will be executed. */
  args: Record<string, unknown>;
  expires_at: string;
  type: "approval_requested";
  conversation_id: string;
}

/**
 * An approval ended: decided by the customer (`customer`), an operator
 * (`operator:<name>`), or expired (`system`).
 */
export interface ApprovalResolved {
  conversation_id: string;
  type: "approval_resolved";
  approval_id: string;
  status: "approved" | "rejected" | "expired" | "cancelled";
  decided_by: string | null;
  /** From the request to the decision (or expiry). */
  waited_seconds: number | null;
}

/**
 * An approval as the customer who decides it sees it: the one approval model that the
 * event, the socket frames and the REST answers extend.
 */
export interface ApprovalView {
  approval_id: string;
  agent: string;
  /** The action in plain words. */
  summary: string;
  /** The exact arguments that will be executed. */
  args: Record<string, unknown>;
  expires_at: string;
}

/** The conversation this socket is attached to. Keep `token`: it is needed to resume. */
export interface ConversationFrame {
  type: "conversation";
  conversation_id: string;
  token: string;
  /** "offline model" or "provider:model". */
  model_label: string;
  is_offline: boolean;
  resumed: boolean;
  /** What the chat says before the first message (WELCOME_MESSAGE). */
  welcome_message: string;
  /** Domains (and their subdomains) whose links the chat renders as links (LINK_DOMAINS); any other URL is shown as plain text. */
  link_domains: string[];
  /** Whether the customer is verified (signed identity or verification). */
  verified: boolean;
  /** How the chat names the verified customer; null while anonymous. */
  customer: string | null;
}

/**
 * The customer wrote in a conversation this operator socket holds (taken over): the
 * agents do not answer it, the person does.
 */
export interface CustomerMessageFrame {
  type: "customer_message";
  conversation_id: string;
  text: string;
  /** Its place in the conversation's event log. */
  seq: number;
}

/**
 * The conversation's customer is now verified (signed identity at start, or the
 * verification tool). `customer` is how the UI names them.
 */
export interface CustomerVerified {
  conversation_id: string;
  type: "customer_verified";
  method: "signed" | "verified";
  customer: string;
}

/** The customer's decision on a pending approval of the current conversation. */
export interface DecisionFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "decision";
  approval_id: string;
  decision: "approve" | "reject";
}

/**
 * Something went wrong; `message` is safe to show a customer. The socket stays usable.
 *
 * Stable codes: bad_frame, frame_too_large, message_too_long, unsupported_version,
 * no_conversation, unauthorized, conversation_not_found, busy, approval_error,
 * approval_pending, unknown_reply, feedback_limit, rate_limited, conversation_too_long,
 * store_unavailable, model_unavailable, tool_error, internal_error; on the operator socket
 * also conversation_held, not_held, bad_request (see docs/protocol.md). `conversation_id` is
 * set for errors of a conversation's turn.
 */
export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  conversation_id: string | null;
}

/**
 * The customer's thumbs up or down on one reply of the current conversation.
 *
 * Answered with `feedback_recorded`, or `error` `unknown_reply` when `reply_id` is not the
 * `reply_id` of a `reply_end` of this conversation (nothing is stored). Rating a reply again
 * records the new rating: the latest counts. A closed conversation's replies may be rated;
 * that does not reopen it.
 */
export interface FeedbackFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "feedback";
  /** The `reply_id` of the `reply_end` being rated. */
  reply_id: string;
  /** "up" (helpful) or "down" (not helpful). */
  rating: "up" | "down";
  /** An optional short comment. */
  comment?: string | null;
}

/**
 * The customer's rating of a reply is stored (the answer to `feedback`, on this socket
 * only). Rating the same reply again is answered the same way; the latest rating counts,
 * up to 20 ratings of one reply (then `feedback_limit`).
 */
export interface FeedbackRecordedFrame {
  type: "feedback_recorded";
  conversation_id: string;
  reply_id: string;
  rating: "up" | "down";
}

/** Give the conversation back to the agents; answered with `person_left`. */
export interface HandBackFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "hand_back";
  conversation_id: string;
}

/**
 * An import job changed: sent for every change of every job, in order per job.
 *
 * `status` goes queued, fetching, validating, parsing, classifying, then ready (`draft_id`
 * set) or failed (`error`, `error_code`: spec_error, spec_refused, interrupted,
 * internal_error). A job interrupted by a restart goes back to queued once.
 */
export interface ImportProgressFrame {
  type: "import_progress";
  job_id: string;
  status: "queued" | "fetching" | "validating" | "parsing" | "classifying" | "ready" | "failed";
  /** What it is doing in words, e.g. "reading operations". */
  stage: string;
  /** Operations classified so far (classifying, ready). */
  done: number;
  /** Operations to classify, 0 before classification starts. */
  total: number;
  /** The draft made, once ready. */
  draft_id: string | null;
  /** Why it failed, for the operator. */
  error: string | null;
  error_code: string | null;
}

/** The customer's message is stored; it will be answered. */
export interface MessageAccepted {
  conversation_id: string;
  type: "message_accepted";
  text: string;
  seq: number;
}

/** A customer message in the current conversation. */
export interface MessageFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "message";
  text: string;
}

/**
 * An approval of any conversation waits for a decision (as `GET /api/v1/operator/approvals`
 * lists it): sent to every operator socket when an approval is created, in any server process
 * on the same database.
 */
export interface OperatorApprovalRequestedFrame {
  approval_id: string;
  agent: string;
  /** The action in plain words. */
  summary: string;
  /** The exact arguments that will be executed. */
  args: Record<string, unknown>;
  expires_at: string;
  type: "approval_requested";
  tool: string;
  conversation_id: string;
  status: string;
  created_at: string;
  decided_at: string | null;
  decided_by: string | null;
}

/**
 * An approval of any conversation ended (decided, expired, cancelled): drop it from the
 * inbox. `decided_by`: `customer`, `operator:<name>` or `system`.
 */
export interface OperatorApprovalResolvedFrame {
  type: "approval_resolved";
  approval_id: string;
  conversation_id: string;
  status: "approved" | "rejected" | "expired" | "cancelled";
  decided_by: string | null;
}

/**
 * The operator token, as the first frame of an operator socket (browsers cannot set an
 * `Authorization` header on a WebSocket). Not needed when the upgrade request had one.
 */
export interface OperatorAuthFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "auth";
  token: string;
}

/**
 * The token was accepted: from now on every job change is sent. `jobs` are the import
 * jobs not yet ended at that moment.
 */
export interface OperatorReadyFrame {
  type: "operator_ready";
  jobs: ImportProgressFrame[];
}

/**
 * A person from the support team took the conversation over; the agents are silent
 * until they leave. `name` is how the customer sees them.
 */
export interface PersonJoined {
  type: "person_joined";
  conversation_id: string;
  name: string;
}

/** The person handed the conversation back: the agents answer the next message. */
export interface PersonLeft {
  type: "person_left";
  conversation_id: string;
  name: string;
}

/** A person's message to the customer, shown with their name (never an agent's label). */
export interface PersonMessage {
  type: "person_message";
  conversation_id: string;
  name: string;
  text: string;
}

/** Keep-alive; answered with `pong`. */
export interface PingFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "ping";
}

export interface PongFrame {
  type: "pong";
}

/** The agent finished speaking for this turn; `text` is the whole reply. */
export interface ReplyEnd {
  conversation_id: string;
  type: "reply_end";
  agent: string;
  text: string;
  /** Names this reply, for the customer's thumbs up or down on it. */
  reply_id: string;
}

/**
 * Resume a conversation with the token issued when it started.
 *
 * The server answers with `conversation` then `transcript` (earlier events and any pending
 * approval), or `error` `unauthorized` when the id is unknown or the token is not its token.
 */
export interface ResumeFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "resume";
  conversation_id: string;
  token: string;
}

/** A message to the customer of a conversation this socket took over, as its person. */
export interface SayFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "say";
  conversation_id: string;
  text: string;
}

/**
 * Start a new conversation; the server answers with a `conversation` frame.
 *
 * `identity` is the signed identity of a customer the host site has signed in (a JWT its
 * server signed with IDENTITY_SECRET or the key of IDENTITY_PUBLIC_KEY; see docs/security.md).
 * A forged, expired or wrongly signed one is refused with `identity_refused` and no
 * conversation starts. Without it the conversation is anonymous: tools that need a customer
 * are refused until the customer verifies in the conversation.
 */
export interface StartFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "start";
  /** A signed identity token (JWT). */
  identity?: string | null;
}

/**
 * Take a conversation over as `name` (the customer sees it): the agents stay silent and
 * this socket gets the customer's messages (`customer_message`) until it is handed back.
 * Answered with `person_joined`; `error` `conversation_held` when someone else holds it,
 * `conversation_not_found` when there is no such conversation. Taking over again as the same
 * name (after a reconnect) follows the conversation again and changes nothing else.
 */
export interface TakeOverFrame {
  /** Protocol version; optional, 1 when absent. */
  v?: 1;
  type: "take_over";
  conversation_id: string;
  name: string;
}

export interface Token {
  conversation_id: string;
  type: "token";
  agent: string;
  text: string;
}

/**
 * What a customer sees of an agent's tool call (`ToolActivity` in the event log): a
 * label and the status, never the tool's name, arguments or result.
 */
export interface ToolActivityFrame {
  type: "tool_activity";
  conversation_id: string;
  status: "started" | "succeeded" | "failed";
  /** Words to show, e.g. "Checking our records". */
  label: string;
}

/**
 * One stored event of the conversation's log, as the customer may see it: `data` is the
 * event's frame without `type` and `conversation_id` (`customer_message`: `{text}`).
 *
 * A `reply_end`'s `data` has the `reply_id` to rate it by (none for replies stored before
 * replies had ids) and `rating` is the customer's latest rating of it.
 */
export interface TranscriptEntry {
  seq: number;
  kind: string;
  agent: string | null;
  data: Record<string, unknown>;
  created_at: string;
  /** `reply_end` only: the customer's latest rating of this reply. */
  rating: "up" | "down" | null;
}

/**
 * Sent after a resume: the conversation so far and the approvals still pending.
 *
 * The customer's ratings are not entries of their own: each `reply_end` carries its latest
 * one (`rating`).
 */
export interface TranscriptFrame {
  type: "transcript";
  conversation_id: string;
  events: TranscriptEntry[];
  pending_approvals: ApprovalView[];
}

export type ClientFrame =
  | StartFrame
  | ResumeFrame
  | MessageFrame
  | DecisionFrame
  | FeedbackFrame
  | PingFrame;

export type ServerFrame =
  | ConversationFrame
  | TranscriptFrame
  | MessageAccepted
  | AgentSelected
  | Token
  | ToolActivityFrame
  | ApprovalRequestedFrame
  | ApprovalResolved
  | ReplyEnd
  | CustomerVerified
  | PersonJoined
  | PersonMessage
  | PersonLeft
  | FeedbackRecordedFrame
  | PongFrame
  | ErrorFrame;

export type OperatorClientFrame =
  | OperatorAuthFrame
  | PingFrame
  | TakeOverFrame
  | SayFrame
  | HandBackFrame;

export type OperatorServerFrame =
  | OperatorReadyFrame
  | ImportProgressFrame
  | CustomerMessageFrame
  | OperatorApprovalRequestedFrame
  | OperatorApprovalResolvedFrame
  | PersonJoined
  | PersonMessage
  | PersonLeft
  | PongFrame
  | ErrorFrame;
