import { useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";

import type { OperatorServerFrame } from "../protocol";
import type { Api } from "./api";
import { describe } from "./api";
import type { Escalation, LoggedEvent } from "./api-types";
import { when } from "./format";
import { replayHref } from "./route";
import { Empty, Failure, Loading } from "./states";
import { useOperatorSocket } from "./useOperatorSocket";
import { usePolling } from "./usePolling";

/** How often the list of escalations is read again (the thread itself is live). */
export const ESCALATIONS_POLL_MS = 5000;
const NAME_KEY = "smart-support.operator-name";
const RECENT_EVENTS = 60;
const THREAD_KINDS = ["customer_message", "reply_end", "person_message", "person_joined", "person_left", "handoff"];

export function savedName(): string {
  try {
    return sessionStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

function saveName(name: string): void {
  try {
    sessionStorage.setItem(NAME_KEY, name);
  } catch {
    /* storage off: asked again next time */
  }
}

/** One line of a conversation's thread as the operator reads it. */
export interface Line {
  key: string;
  from: "customer" | "agent" | "person" | "note";
  who: string;
  text: string;
}

export function lineOf(event: LoggedEvent): Line | null {
  const d = event.data ?? {};
  const text = String(d.text ?? "");
  const key = `e${event.seq}`;
  switch (event.kind) {
    case "customer_message":
      return { key, from: "customer", who: "Customer", text };
    case "reply_end":
      return { key, from: "agent", who: String(d.agent ?? event.agent ?? "Agent"), text };
    case "person_message":
      return { key, from: "person", who: String(d.name ?? "Person"), text };
    case "person_joined":
      return { key, from: "note", who: "", text: `${String(d.name)} took the conversation over` };
    case "person_left":
      return { key, from: "note", who: "", text: `${String(d.name)} handed it back to the agents` };
    case "handoff":
      return { key, from: "note", who: "", text: `Handed to a person: ${String(d.reason ?? "")}` };
    default:
      return null;
  }
}

/** The conversation's recent events: the thread's lines, the hand-off reason, the last seq. */
async function recent(api: Api, conversationId: string): Promise<{ lines: Line[]; reason: string | null; seq: number }> {
  const summary = await api.summary(conversationId);
  const after = Math.max(0, summary.last_seq - RECENT_EVENTS);
  const page = await api.events(conversationId, after, RECENT_EVENTS, THREAD_KINDS);
  const handoffs = page.events.filter((e) => e.kind === "handoff");
  const reason = handoffs.length ? String(handoffs[handoffs.length - 1].data.reason ?? "") : null;
  const lines = page.events.map(lineOf).filter((l): l is Line => l !== null);
  return { lines, reason, seq: summary.last_seq };
}

function Lines({ lines, testId }: { lines: Line[]; testId: string }) {
  if (lines.length === 0) return <p className="muted">No messages yet.</p>;
  return (
    <ul className="last-messages thread" data-testid={testId}>
      {lines.map((l) => (
        <li key={l.key} className={`from-${l.from}`} data-from={l.from}>
          {l.from === "note" ? (
            <em>{l.text}</em>
          ) : (
            <>
              <span>{l.who}:</span> {l.text}
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

function NameForm({ name, onName }: { name: string; onName: (name: string) => void }) {
  const [draft, setDraft] = useState(name);
  const [editing, setEditing] = useState(!name);
  if (!editing)
    return (
      <p className="muted" data-testid="operator-name">
        You reply as <strong>{name}</strong> (customers see this name).{" "}
        <button type="button" className="btn btn-small" onClick={() => setEditing(true)}>
          Change
        </button>
      </p>
    );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = draft.trim();
    if (!next) return;
    onName(next);
    setEditing(false);
  };
  return (
    <form className="name-form" onSubmit={submit} data-testid="name-form">
      <label htmlFor="operator-name">Your name, as customers will see it</label>{" "}
      <input
        id="operator-name"
        value={draft}
        maxLength={80}
        onChange={(e) => setDraft(e.target.value)}
        placeholder="e.g. Sam"
        autoComplete="name"
      />{" "}
      <button type="submit" className="btn btn-primary" disabled={!draft.trim()}>
        Save
      </button>
    </form>
  );
}

function EscalationItem({
  escalation,
  api,
  name,
  mine,
  onTakeOver,
  busy,
}: {
  escalation: Escalation;
  api: Api;
  name: string;
  mine: boolean;
  onTakeOver: () => void;
  busy: boolean;
}) {
  const [info, setInfo] = useState<{ lines: Line[]; reason: string | null } | null>(null);
  useEffect(() => {
    let live = true;
    recent(api, escalation.conversation_id)
      .then((r) => live && setInfo(r))
      .catch(() => live && setInfo({ lines: [], reason: null }));
    return () => {
      live = false;
    };
  }, [api, escalation.conversation_id, escalation.held_by]);
  const held = escalation.held_by;
  return (
    <li
      className="inbox-item escalation-item"
      data-testid="escalation"
      data-conversation-id={escalation.conversation_id}
      data-held={held ? "true" : "false"}
    >
      <header>
        <h2>
          <a href={replayHref(escalation.conversation_id)}>{escalation.conversation_id}</a>
        </h2>
        <span className={held ? "pill pill-held" : "pill pill-waiting"} data-testid="escalation-state">
          {held ? `Held by ${held}` : "Waiting for a person"}
        </span>
      </header>
      <p className="muted">
        {held && escalation.held_since ? `Since ${when(escalation.held_since)}` : `Started ${when(escalation.created_at)}`}
        {escalation.active_agent ? ` · agent ${escalation.active_agent}` : ""}
        {escalation.closed ? " · closed (idle)" : ""}
      </p>
      {info === null ? (
        <Loading what="the conversation" />
      ) : (
        <>
          <p data-testid="escalation-reason">
            <strong>Reason:</strong> {info.reason ?? "routed to the support team"}
          </p>
          <h3>Last messages</h3>
          <Lines lines={info.lines.filter((l) => l.from !== "note").slice(-4)} testId="escalation-messages" />
        </>
      )}
      <div className="actions">
        {!held || mine ? (
          <button type="button" className="btn btn-primary" disabled={!name || busy} onClick={onTakeOver}>
            {busy ? "Taking over…" : mine ? "Open the conversation" : "Take over"}
          </button>
        ) : (
          <span className="muted">Someone else holds it.</span>
        )}
        {!name && <span className="muted"> Set your name first.</span>}
      </div>
    </li>
  );
}

/** The live thread of a conversation this page's operator holds. */
function Thread({
  conversationId,
  name,
  lines,
  connected,
  error,
  onSay,
  onHandBack,
  onClose,
}: {
  conversationId: string;
  name: string;
  lines: Line[] | null;
  connected: boolean;
  error: string | null;
  onSay: (text: string) => boolean;
  onHandBack: () => void;
  onClose: () => void;
}) {
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    input.current?.focus();
  }, [conversationId]);
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "nearest" });
  }, [lines]);
  const send = (event?: FormEvent) => {
    event?.preventDefault();
    const next = text.trim();
    if (next && onSay(next)) setText("");
  };
  const keys = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  };
  return (
    <section className="thread-panel" aria-labelledby="thread-title" data-testid="thread">
      <header>
        <h2 id="thread-title">
          Conversation <code>{conversationId}</code>
        </h2>
        <button type="button" className="btn btn-small" onClick={onClose}>
          Close
        </button>
      </header>
      <p className="muted">
        You hold it as <strong>{name}</strong>: the agents stay silent and the customer reads your replies under your
        name. {connected ? "" : "Reconnecting…"}
      </p>
      {lines === null ? (
        <Loading what="the thread" />
      ) : (
        <div className="thread-scroll" aria-live="polite">
          <Lines lines={lines} testId="thread-messages" />
          <div ref={end} />
        </div>
      )}
      {error && <Failure message={error} />}
      <form className="reply-form" onSubmit={send}>
        <label htmlFor="reply-text">Reply to the customer</label>
        <textarea
          id="reply-text"
          ref={input}
          rows={3}
          value={text}
          maxLength={4000}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={keys}
          placeholder="Enter sends, Shift+Enter starts a new line"
          data-testid="reply-text"
        />
        <div className="actions">
          <button type="submit" className="btn btn-primary" disabled={!text.trim() || !connected}>
            Send as {name}
          </button>
          <button type="button" className="btn" onClick={onHandBack} disabled={!connected} data-testid="hand-back">
            Hand back to the agents
          </button>
        </div>
      </form>
    </section>
  );
}

export function Escalations({ api }: { api: Api }) {
  const { data, error, loading, reload } = usePolling(() => api.escalations(), ESCALATIONS_POLL_MS, [api]);
  const [name, setName] = useState(savedName);
  const [open, setOpen] = useState<string | null>(null);
  const [lines, setLines] = useState<Line[] | null>(null);
  const [pending, setPending] = useState<string | null>(null);
  const [threadError, setThreadError] = useState<string | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const openRef = useRef<string | null>(null);
  openRef.current = open;
  const lastSeq = useRef(0);
  const live = useRef(0);

  const onFrame = useCallback(
    (frame: OperatorServerFrame) => {
      switch (frame.type) {
        case "person_joined":
          setPending(null);
          reload();
          return;
        case "customer_message":
          if (frame.conversation_id !== openRef.current || frame.seq <= lastSeq.current) return;
          lastSeq.current = frame.seq;
          setLines((l) => [...(l ?? []), { key: `e${frame.seq}`, from: "customer", who: "Customer", text: frame.text }]);
          return;
        case "person_message":
          if (frame.conversation_id !== openRef.current) return;
          live.current += 1;
          setLines((l) => [...(l ?? []), { key: `p${live.current}`, from: "person", who: frame.name, text: frame.text }]);
          return;
        case "person_left":
          if (frame.conversation_id === openRef.current) {
            setOpen(null);
            setLines(null);
          }
          reload();
          return;
        case "error":
          if (!frame.conversation_id) return;
          setPending(null);
          if (frame.conversation_id === openRef.current) setThreadError(frame.message);
          else setListError(frame.message);
          if (frame.code === "conversation_held" && frame.conversation_id === openRef.current) {
            setOpen(null);
            setLines(null);
          }
          reload();
          return;
      }
    },
    [reload],
  );
  const { socket, connected } = useOperatorSocket(api.token, onFrame);

  // A reconnect (or the first connect) follows the open conversation again.
  useEffect(() => {
    if (connected && open && socket) socket.send({ type: "take_over", conversation_id: open, name });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connected]);

  const takeOver = async (conversationId: string) => {
    if (!socket || !name) return;
    setListError(null);
    setThreadError(null);
    setPending(conversationId);
    setOpen(conversationId);
    setLines(null);
    lastSeq.current = Number.MAX_SAFE_INTEGER; // nothing live before the history is read
    try {
      const history = await recent(api, conversationId);
      lastSeq.current = history.seq;
      setLines(history.lines);
    } catch (failure) {
      lastSeq.current = 0;
      setLines([]);
      setThreadError(describe(failure));
    }
    if (!socket.send({ type: "take_over", conversation_id: conversationId, name })) {
      setPending(null);
      setThreadError("Not connected to the server yet: try again in a moment.");
    }
  };

  const say = (text: string): boolean => {
    if (!open || !socket) return false;
    setThreadError(null);
    const sent = socket.send({ type: "say", conversation_id: open, text });
    if (!sent) setThreadError("Not connected: the message was not sent.");
    return sent;
  };

  const handBack = () => {
    if (!open || !socket) return;
    if (!socket.send({ type: "hand_back", conversation_id: open })) setThreadError("Not connected: try again.");
  };

  const changeName = (next: string) => {
    saveName(next);
    setName(next);
  };

  const list = data?.escalations;
  return (
    <section aria-labelledby="escalations-title">
      <h1 id="escalations-title">Escalations</h1>
      <p className="muted">
        Conversations the agents handed to a person, newest first.{" "}
        {data && <span data-testid="escalations-promise">Customers handed off now are told: “{data.promise}”</span>}
      </p>
      <NameForm name={name} onName={changeName} />
      {!connected && <p className="muted" data-testid="socket-state">Connecting to the live socket…</p>}
      {error && <Failure message={error} onRetry={reload} />}
      {listError && <Failure message={listError} />}
      <div className={open ? "escalations escalations-open" : "escalations"}>
        <div>
          {loading && !data ? (
            <Loading what="escalations" />
          ) : list && list.length === 0 ? (
            <Empty>No conversation waits for a person.</Empty>
          ) : (
            <ul className="inbox" data-testid="escalations">
              {list?.map((e) => (
                <EscalationItem
                  key={e.conversation_id}
                  escalation={e}
                  api={api}
                  name={name}
                  mine={!!name && e.held_by === name}
                  busy={pending === e.conversation_id}
                  onTakeOver={() => void takeOver(e.conversation_id)}
                />
              ))}
            </ul>
          )}
        </div>
        {open && (
          <Thread
            conversationId={open}
            name={name}
            lines={lines}
            connected={connected}
            error={threadError}
            onSay={say}
            onHandBack={handBack}
            onClose={() => {
              setOpen(null);
              setLines(null);
            }}
          />
        )}
      </div>
    </section>
  );
}
