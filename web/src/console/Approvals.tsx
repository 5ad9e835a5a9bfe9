import { useCallback, useEffect, useState } from "react";

import type { Api } from "./api";
import { describe } from "./api";
import type { OperatorServerFrame } from "../protocol";
import type { LoggedEvent, OperatorApproval } from "./api-types";
import { timeLeft } from "./format";
import { replayHref } from "./route";
import { Empty, Failure, Loading } from "./states";
import { useOperatorSocket } from "./useOperatorSocket";
import { usePolling } from "./usePolling";

/**
 * How often the inbox reads the pending approvals over REST anyway. The operator socket's
 * `approval_requested` / `approval_resolved` frames keep it live; this refresh (and the one on
 * every reconnect) only catches up on what a dropped socket missed.
 */
export const POLL_MS = 30_000;
const RECENT_EVENTS = 40;

/** The conversation's last few messages, read once per approval. */
function useLastMessages(api: Api, conversationId: string): LoggedEvent[] | null {
  const [messages, setMessages] = useState<LoggedEvent[] | null>(null);
  useEffect(() => {
    let live = true;
    (async () => {
      const summary = await api.summary(conversationId);
      const after = Math.max(0, summary.last_seq - RECENT_EVENTS);
      const page = await api.events(conversationId, after, RECENT_EVENTS, ["customer_message", "reply_end"]);
      if (live) setMessages(page.events.slice(-4));
    })().catch(() => live && setMessages([]));
    return () => {
      live = false;
    };
  }, [api, conversationId]);
  return messages;
}

export function ApprovalItem({
  approval,
  now,
  api,
  onDecided,
}: {
  approval: OperatorApproval;
  now: number;
  api: Api;
  onDecided: () => void;
}) {
  const messages = useLastMessages(api, approval.conversation_id);
  const [busy, setBusy] = useState<"approve" | "reject" | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function decide(decision: "approve" | "reject") {
    setBusy(decision);
    setError(null);
    try {
      await api.decide(approval.approval_id, decision);
      onDecided();
    } catch (failure) {
      setError(describe(failure));
      setBusy(null);
    }
  }

  return (
    <li className="inbox-item" data-testid="inbox-approval" data-approval-id={approval.approval_id}>
      <header>
        <h2 data-testid="inbox-summary">{approval.summary}</h2>
        <span className="countdown" data-testid="inbox-time-left">
          {timeLeft(approval.expires_at, now)}
        </span>
      </header>
      <p className="muted">
        Agent <strong>{approval.agent}</strong> · tool <code>{approval.tool}</code> · conversation{" "}
        <a href={replayHref(approval.conversation_id)}>{approval.conversation_id}</a>
      </p>
      <h3>Exact arguments</h3>
      <pre data-testid="inbox-args">{JSON.stringify(approval.args, null, 2)}</pre>
      <h3>Last messages</h3>
      {messages === null ? (
        <Loading what="the conversation" />
      ) : messages.length === 0 ? (
        <p className="muted">No messages.</p>
      ) : (
        <ul className="last-messages" data-testid="inbox-messages">
          {messages.map((m) => (
            <li key={m.seq} className={m.kind === "customer_message" ? "from-customer" : "from-agent"}>
              <span>{m.kind === "customer_message" ? "Customer" : (m.agent ?? "Agent")}:</span>{" "}
              {String(m.data.text ?? "")}
            </li>
          ))}
        </ul>
      )}
      {error && <Failure message={error} />}
      <div className="actions">
        <button type="button" className="btn btn-primary" disabled={busy !== null} onClick={() => decide("approve")}>
          {busy === "approve" ? "Approving…" : "Approve"}
        </button>
        <button type="button" className="btn btn-danger" disabled={busy !== null} onClick={() => decide("reject")}>
          {busy === "reject" ? "Rejecting…" : "Reject"}
        </button>
      </div>
    </li>
  );
}

/** The REST list with the socket's frames applied: new ones added, resolved ones dropped. */
export function applyApprovalFrame(
  list: OperatorApproval[],
  frame: OperatorServerFrame,
): OperatorApproval[] {
  if (frame.type === "approval_requested") {
    if (list.some((a) => a.approval_id === frame.approval_id)) return list;
    const { type: _type, ...approval } = frame;
    return [...list, approval].sort((a, b) => a.created_at.localeCompare(b.created_at));
  }
  if (frame.type === "approval_resolved") return list.filter((a) => a.approval_id !== frame.approval_id);
  return list;
}

export function Approvals({ api }: { api: Api }) {
  const { data, error, loading, reload } = usePolling(() => api.approvals(), POLL_MS, [api]);
  const [live, setLive] = useState<OperatorApproval[] | undefined>(undefined);
  useEffect(() => setLive(data), [data]);
  const onFrame = useCallback((frame: OperatorServerFrame) => {
    if (frame.type === "approval_requested" || frame.type === "approval_resolved")
      setLive((list) => (list ? applyApprovalFrame(list, frame) : list));
  }, []);
  const { connected } = useOperatorSocket(api.token, onFrame, reload);
  const shown = live ?? data;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      <p className="muted">
        Pending approvals of every conversation, oldest first.{" "}
        <span data-testid="inbox-live" data-connected={connected ? "true" : "false"}>
          {connected ? "Live: new approvals appear as they are asked." : "Connecting… (refreshed every 30 s meanwhile)"}
        </span>
      </p>
      {error && <Failure message={error} onRetry={reload} />}
      {loading && !shown ? (
        <Loading what="approvals" />
      ) : shown && shown.length === 0 ? (
        <Empty>Nothing waits for a decision.</Empty>
      ) : (
        <ul className="inbox" data-testid="inbox">
          {shown?.map((a) => (
            <ApprovalItem key={a.approval_id} approval={a} now={now} api={api} onDecided={reload} />
          ))}
        </ul>
      )}
    </section>
  );
}
