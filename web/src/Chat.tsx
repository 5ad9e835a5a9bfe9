import { type FormEvent, type KeyboardEvent, type ReactNode, useEffect, useRef, useState } from "react";

import type { Status } from "./chat";
import { Message } from "./Message";
import type { Session } from "./session";
import { useChat } from "./useChat";

const STATUS_TEXT: Record<Status, string> = {
  connecting: "Connecting…",
  ready: "Online",
  thinking: "Thinking…",
  offline: "Reconnecting…",
  error: "Something went wrong",
};


export interface ChatProps {
  session: Session;
  embedded: boolean;
  /** Resume whatever conversation this browser saved (the visitor is not known yet). */
  resumeAny?: boolean;
  /** "New chat": the page decides who the next conversation is for (the demo's picker). */
  onNewChat?: () => void;
  /** The saved conversation could not be resumed (default: start one for `session`). */
  onResumeLost?: () => void;
  /** The identity was refused: offered as "Continue without signing in". */
  onContinueAnonymously?: () => void;
}

export function Chat({ session, embedded, resumeAny, onNewChat, onResumeLost, onContinueAnonymously }: ChatProps) {
  const { state, send, decide, rate, restart } = useChat(session, { resumeAny, onResumeLost });
  const [draft, setDraft] = useState("");
  const log = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const connected = state.status !== "connecting" && state.status !== "offline";
  const waitingForApproval = state.items.some(
    (it) => it.kind === "approval" && (it.status === "pending" || it.status === "deciding"),
  );
  const canSend = connected && state.conversationId !== null && state.status !== "thinking" && draft.trim().length > 0;
  const refused = state.conversationId === null && state.lastError?.code === "identity_refused";

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [state.items, state.activity]);

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (!canSend) return;
    send(draft.trim());
    setDraft("");
    input.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  };

  return (
    <Frame embedded={embedded}>
      <header className="widget-header">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            S
          </span>
          <div>
            <h1>Support</h1>
            <p className="status" data-testid="chat-status" data-status={state.status} aria-live="polite">
              <span className={`dot dot-${state.status}`} aria-hidden="true" />
              {STATUS_TEXT[state.status]}
            </p>
          </div>
        </div>
        <div className="header-actions">
          {state.isOffline && (
            <span
              className="badge"
              data-testid="offline-badge"
              title="Answers come from the built-in offline model, not an LLM"
            >
              offline model
            </span>
          )}
          <button
            type="button"
            className="btn btn-ghost"
            onClick={onNewChat ?? restart}
            data-testid="new-conversation"
          >
            New chat
          </button>
        </div>
      </header>
      {state.person !== null && (
        <p className="person-here" data-testid="person-here" role="status">
          {`${state.person} from our team is in this conversation`}
        </p>
      )}
      {state.conversationId !== null && (
        <p className="whoami" data-testid="customer" data-verified={state.verified ? "true" : "false"}>
          {state.verified && state.customer ? `Signed in as ${state.customer}` : "Not signed in"}
        </p>
      )}

      <div className="log" ref={log} data-testid="chat-log" aria-live="polite" aria-relevant="additions text">
        {state.items.length === 0 && state.welcomeMessage && (
          <div className="empty" data-testid="welcome">
            {state.welcomeMessage.split(/\n{2,}/).map((paragraph, i) => (
              <p key={i}>{paragraph}</p>
            ))}
          </div>
        )}
        {state.items.map((item) => (
          <Message
            key={item.id}
            item={item}
            linkDomains={state.linkDomains}
            connected={connected}
            onDecide={decide}
            onRate={rate}
          />
        ))}
        {refused && onContinueAnonymously && (
          <button type="button" className="btn" data-testid="continue-anonymously" onClick={onContinueAnonymously}>
            Continue without signing in
          </button>
        )}
        {state.status === "thinking" && (
          <div className="typing" data-testid="thinking" role="status">
            <span className="dots" aria-hidden="true">
              <i />
              <i />
              <i />
            </span>
            {state.activity ?? "Thinking…"}
          </div>
        )}
      </div>

      <form className="composer" onSubmit={submit}>
        <label htmlFor="message" className="sr-only">
          Your message
        </label>
        <textarea
          id="message"
          ref={input}
          rows={1}
          maxLength={4000}
          data-testid="message-input"
          placeholder={
            // A message does not decide the action: only the buttons do.
            waitingForApproval ? "Type a message (the action above waits)…" : "Type your message…"
          }
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={onKeyDown}
          disabled={!connected}
        />
        <button type="submit" className="btn btn-primary" data-testid="send-button" disabled={!canSend}>
          Send
        </button>
      </form>
      {state.modelLabel && !state.isOffline && <p className="footnote">Answers by {state.modelLabel}</p>}
    </Frame>
  );
}

/** The widget's box: centred on the standalone page, the whole iframe when embedded. */
export function Frame({ embedded, children }: { embedded: boolean; children: ReactNode }) {
  return (
    <div className={embedded ? "page page-embedded" : "page"}>
      <main className="widget" aria-label="Customer support chat">
        {children}
      </main>
    </div>
  );
}
