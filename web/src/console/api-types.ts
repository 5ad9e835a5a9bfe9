// The operator REST API's answers and bodies as the console uses them. See
// docs/protocol.md.
// GENERATED from the server's pydantic models: do not edit. Regenerate with
//   python -m smart_support.server.schema_export

/** One agent's work in the window. */
export interface AgentFigures {
  /** Turns routed to the agent (`agent_selected`). */
  turns: number;
  /** Tool calls started. */
  tool_calls: number;
  /** Tool calls that failed. */
  tool_failures: number;
  usage: UsageTotals;
}

/** The figures of one window. Every count is over conversations created in it. */
export interface Analytics {
  since: string;
  until: string;
  bucket: "day";
  conversations: number;
  /** Customer messages. */
  turns: number;
  /** Conversations handed to the escalation agent or a person. */
  escalations: number;
  /** escalations / conversations (0 when there are none). */
  escalation_share: number;
  /** Closed conversations whose outcome is `resolved`; null while none closed. */
  resolved: number | null;
  /** resolved / closed conversations; null while none closed. */
  resolution_rate: number | null;
  /** LLM cost of the resolved conversations / resolved; null without any. */
  cost_per_resolution_usd: number | null;
  /** Closed conversations by outcome (resolved, escalated, abandoned, unresolved). */
  outcomes: Record<string, number>;
  /** Closed conversations whose outcome is `abandoned`; null while none closed. */
  abandoned: number | null;
  /** abandoned / closed conversations; null while none closed. */
  abandonment_rate: number | null;
  feedback: FeedbackFigures;
  agents: Record<string, AgentFigures>;
  approvals: ApprovalFigures;
  usage: UsageTotals;
  usage_by_agent: Record<string, UsageTotals>;
  usage_by_model: Record<string, UsageTotals>;
  /** Buckets with conversations, oldest first. */
  series: SeriesPoint[];
}

/** Approvals asked for in the conversation, by how they ended. */
export interface ApprovalCounts {
  requested: number;
  approved: number;
  rejected: number;
  expired: number;
  cancelled: number;
  /** Requested and not resolved (yet). */
  pending: number;
}

/** Approvals asked for in the window's conversations, by how they stand now. */
export interface ApprovalFigures {
  requested: number;
  approved: number;
  rejected: number;
  expired: number;
  cancelled: number;
  pending: number;
  /** From request to a person's approve or reject, over the approvals asked in the window; null when none was decided. */
  median_seconds_to_decide: number | null;
}

/** One decision of an operator about one operation of a draft. */
export interface ChangeIn {
  operation: string;
  field: string;
  /** The new value; its kind depends on `field`. */
  value: unknown;
  /** Confirm marking a write operation `read`. */
  confirm?: boolean;
  /** Recorded as `operator:<name>`. */
  operator?: string | null;
}

/** A conversation once closed: its outcome and the definition's version that computed it. */
export interface ClosedConversation {
  conversation_id: string;
  outcome: "resolved" | "escalated" | "abandoned" | "unresolved";
  outcome_version: number;
  closed_at: string;
}

export interface ConversationOut {
  conversation_id: string;
  created_at: string;
  active_agent: string | null;
  escalated: boolean;
  /** Computed at close; null while open. */
  outcome: string | null;
  closed_at: string | null;
}

/** What a support lead asks first about one conversation. */
export interface ConversationSummary {
  conversation_id: string;
  created_at: string;
  first_event_at: string | null;
  last_event_at: string | null;
  /** Entries in the event log. */
  events: number;
  /** The seq of the last event (0 when there is none). */
  last_seq: number;
  /** Customer messages. */
  turns: number;
  replies: number;
  /** Agents that took part, in the order they first did. */
  agents: string[];
  tools: Record<string, ToolCalls>;
  approvals: ApprovalCounts;
  /** Turn errors by code (`tool_error`, ...). */
  errors: Record<string, number>;
  /** Handed to the escalation agent or a person. */
  escalated: boolean;
  /** `resolved`, `escalated`, `abandoned` or `unresolved`, computed when the conversation closed (`analytics.outcomes`); null while it is open. */
  outcome: string | null;
  /** The version of the outcome definition that computed it. */
  outcome_version: number | null;
  closed_at: string | null;
  usage: UsageTotals;
  usage_by_model: Record<string, UsageTotals>;
  usage_by_agent: Record<string, UsageTotals>;
  /** Model calls by what they were for: `routing` (the router) and `reply` (the agents' steps). */
  usage_by_purpose: Record<string, UsageTotals>;
  /** Time tools ran, summed over the calls logged with a duration. */
  tool_ms: number;
  tool_ms_by_tool: Record<string, number>;
  /** The longest time from an approval's request to its decision or expiry; null when none was resolved (or the log predates `waited_seconds`). */
  longest_approval_wait_seconds: number | null;
  /** Time model calls took, summed (calls recorded with a duration). */
  model_ms: number;
}

export interface DecisionIn {
  decision: "approve" | "reject";
  /** Who decides; recorded as `operator:<name>`. */
  operator?: string | null;
}

export interface DecisionOut {
  approval_id: string;
  decision: "approve" | "reject";
  /** What the resumed turn emitted. */
  events: Record<string, unknown>[];
}

export interface DeliveriesPage {
  deliveries: DeliveryOut[];
  /** Pass as `offset` for the next page; null: last. */
  next_offset: number | null;
}

/** One webhook delivery: what is sent to which endpoint, and how its attempts went. */
export interface DeliveryOut {
  /** The `webhook-id` header (stable across retries). */
  id: string;
  endpoint: string;
  event_type: string;
  conversation_id: string | null;
  status: "pending" | "delivered" | "dead" | "disabled";
  attempts: number;
  next_attempt_at: string;
  /** HTTP status of the last attempt; null: no answer (timeout, refused). */
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  payload: Record<string, unknown>;
}

/** A draft's operations against the live (accepted) version of the same name. */
export interface DiffOut {
  import_id: string;
  /** The accepted draft compared with; null when the name has none (all added). */
  against: string | null;
  /** `name`, `method`, `path` of each. */
  added: Record<string, unknown>[];
  removed: Record<string, unknown>[];
  /** `name` and `fields`: per field (method, path, parameters, access) that differs, `{from, to}`. */
  changed: Record<string, unknown>[];
  unchanged: number;
  /** The accepted version's decisions that apply to this draft (carried over when it was imported): `operation`, `field`, `value`, `changed_by`. */
  carried: Record<string, unknown>[];
}

export interface EndpointEnabled {
  endpoint: string;
  /** Its disabled deliveries, pending again. */
  requeued: number;
}

/** An escalated conversation waiting for a person, or one a person holds. */
export interface Escalation {
  conversation_id: string;
  created_at: string;
  active_agent: string | null;
  escalated: boolean;
  /** Who holds it; null while it waits. */
  held_by: string | null;
  held_since: string | null;
  /** Closed (idle); a held one stays listed until handed back. */
  closed: boolean;
}

export interface Escalations {
  escalations: Escalation[];
  /** What a customer handed off now is told (SUPPORT_HOURS, OFFLINE_PROMISE). */
  promise: string;
}

/** Events after a cursor, oldest first. */
export interface EventPage {
  events: LoggedEvent[];
  /** Pass as `after` for the next page; null when this page is the last. */
  next_after: number | null;
  /** Whether events after this page exist (of these kinds). */
  has_more: boolean;
}

/** The customers' thumbs on replies (the latest rating of each reply counts). */
export interface FeedbackFigures {
  up: number;
  down: number;
  /** up / (up + down); null when no reply was rated. */
  satisfaction: number | null;
}

export interface HandedBack {
  conversation_id: string;
  /** The person who held it. */
  name: string;
}

/** A conversation a person holds. */
export interface Held {
  conversation_id: string;
  held_by: string;
  held_since: string | null;
}

/** One operator change of a draft, as stored. */
export interface ImportChangeOut {
  id: number;
  /** The operation's tool name. */
  operation: string;
  /** `access`, `relevance`, `agent`, `summary` or `parameter.<name>.role`. */
  field: string;
  value: unknown;
  /** The field's value just before this change. */
  previous: unknown;
  changed_by: string;
  changed_at: string;
  /** The operator confirmed a write operation marked read. */
  confirmed: boolean;
}

/** A draft as listed: who imported what, its state, and how big it is (no report). */
export interface ImportDraftHead {
  id: string;
  name: string;
  status: "draft" | "accepted" | "discarded";
  /** The spec's URL, or `document` for one sent inline. */
  source: string;
  /** Operations, read and write ones, warnings and skipped operations. */
  counts: Record<string, number>;
  change_count: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  accepted_by: string | null;
  accepted_at: string | null;
  discarded_by: string | null;
  discarded_at: string | null;
}

/** A whole draft: its report, the proposal, every change, and the current overrides. */
export interface ImportDraftOut {
  id: string;
  name: string;
  status: "draft" | "accepted" | "discarded";
  /** The spec's URL, or `document` for one sent inline. */
  source: string;
  /** Operations, read and write ones, warnings and skipped operations. */
  counts: Record<string, number>;
  change_count: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  accepted_by: string | null;
  accepted_at: string | null;
  discarded_by: string | null;
  discarded_at: string | null;
  /** The import's report (`operations`, ...). */
  report: Record<string, unknown>;
  /** The classifier's proposal, if any. */
  proposal: Record<string, unknown> | null;
  /** Every change, oldest first. */
  changes: ImportChangeOut[];
  /** The operators' current decisions: the last value per operation and field. */
  overrides: Record<string, Record<string, unknown>>;
  /** Decisions to look at twice, such as write operations marked read. */
  warnings: string[];
  /** The agents this draft made live in the running server (once accepted). */
  live_agents: string[];
  /** How it was imported: `server`, `remote_refs`, `auth` (variable names only). */
  options: Record<string, unknown>;
}

/** An import job as the console shows it. */
export interface ImportJobOut {
  id: string;
  status: "queued" | "fetching" | "validating" | "parsing" | "classifying" | "ready" | "failed";
  stage: string;
  done: number;
  total: number;
  draft_id: string | null;
  error: string | null;
  error_code: string | null;
  attempts: number;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** An accepted import whose agents are live in this server. */
export interface LiveImportOut {
  import_id: string;
  /** The draft's name. */
  name: string;
  /** Its name under `openapi:` in the live registry. */
  openapi: string;
  agents: string[];
  tools: string[];
}

/** What of the accepted imports is live in this server process. */
export interface LiveOut {
  imports: LiveImportOut[];
  /** Accepted imports that did not go live at start: import id -> why. */
  failed: Record<string, string>;
}

/** One entry of a conversation's event log, whole: tool arguments and results included. */
export interface LoggedEvent {
  seq: number;
  kind: string;
  agent: string | null;
  data: Record<string, unknown>;
  created_at: string;
}

/** An approval as operators see it: what the customer sees, the tool, and its state. */
export interface OperatorApproval {
  approval_id: string;
  agent: string;
  /** The action in plain words. */
  summary: string;
  /** The exact arguments that will be executed. */
  args: Record<string, unknown>;
  expires_at: string;
  tool: string;
  conversation_id: string;
  status: string;
  created_at: string;
  decided_at: string | null;
  decided_by: string | null;
}

export interface Sent {
  conversation_id: string;
  name: string;
  text: string;
}

/** One bucket: the conversations created in it and what their model calls cost. */
export interface SeriesPoint {
  /** The bucket's first day, `YYYY-MM-DD` (UTC). */
  bucket: string;
  conversations: number;
  cost_usd: number;
}

/** How one tool fared in the conversation. */
export interface ToolCalls {
  /** Calls started. */
  calls: number;
  succeeded: number;
  failed: number;
}

/** Tokens and cost of model calls. */
export interface UsageTotals {
  model_calls: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}
