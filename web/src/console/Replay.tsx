import { useCallback, useEffect, useRef, useState } from "react";

import type { Api } from "./api";
import { describe } from "./api";
import type { ConversationSummary, LoggedEvent } from "./api-types";
import { money, step, type Step, tokens, when } from "./format";
import { Empty, Failure, Loading } from "./states";

/** Events per page: a 1,000-turn conversation is read a few pages at a time as one scrolls. */
export const PAGE = 200;
const MARKS = ["approval_requested", "approval_resolved", "turn_error", "handoff"];

export function StepRow({ item }: { item: Step }) {
  return (
    <li className={`step step-${item.tone}`} id={`step-${item.seq}`} tabIndex={-1} data-testid="replay-step" data-kind={item.kind}>
      <div className="step-head">
        <span className="step-seq">#{item.seq}</span>
        <strong>{item.title}</strong>
        <time dateTime={item.at}>{when(item.at)}</time>
        {item.tokens > 0 && (
          <span className="step-usage" data-testid="step-usage">
            {item.tokens} tokens · {money(item.cost)}
          </span>
        )}
      </div>
      {item.detail && <p className="step-detail">{item.detail}</p>}
      {item.facts.length > 0 && (
        <dl className="step-facts">
          {item.facts.map(([k, v], i) => (
            <div key={i}>
              <dt>{k}</dt>
              <dd>
                <code>{v}</code>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </li>
  );
}

function SummaryCard({ summary }: { summary: ConversationSummary }) {
  const figures: [string, string][] = [
    ["Turns", String(summary.turns)],
    ["Events", String(summary.events)],
    ["Agents", summary.agents.join(", ") || "—"],
    ["Approvals", `${summary.approvals.requested} asked, ${summary.approvals.pending} pending`],
    ["Errors", String(Object.values(summary.errors).reduce((a, b) => a + b, 0))],
    ["Tokens", String(tokens(summary.usage))],
    ["Cost", money(summary.usage.cost_usd)],
    ["Outcome", summary.outcome ?? (summary.escalated ? "escalated (open)" : "open")],
  ];
  return (
    <dl className="cards cards-small" data-testid="replay-summary">
      {figures.map(([k, v]) => (
        <div className="card" key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Replay({ api, conversationId }: { api: Api; conversationId: string }) {
  const [summary, setSummary] = useState<ConversationSummary | null>(null);
  const [events, setEvents] = useState<LoggedEvent[]>([]);
  const [after, setAfter] = useState<number | null>(0);
  const [marks, setMarks] = useState<LoggedEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const sentinel = useRef<HTMLDivElement>(null);
  const state = useRef({ after: 0 as number | null, busy: false, events: [] as LoggedEvent[] });

  const loadNext = useCallback(async (): Promise<LoggedEvent[]> => {
    const s = state.current;
    if (s.busy || s.after === null) return s.events;
    s.busy = true;
    setBusy(true);
    try {
      const page = await api.events(conversationId, s.after, PAGE);
      s.events = [...s.events, ...page.events];
      s.after = page.next_after;
      setEvents(s.events);
      setAfter(s.after);
      setError(null);
    } catch (failure) {
      setError(describe(failure));
    } finally {
      s.busy = false;
      setBusy(false);
    }
    return s.events;
  }, [api, conversationId]);

  const start = useCallback(() => {
    state.current = { after: 0, busy: false, events: [] };
    setEvents([]);
    setAfter(0);
    setSummary(null);
    setError(null);
    api.summary(conversationId).then(setSummary, (f) => setError(describe(f)));
    api.events(conversationId, 0, 1000, MARKS).then(
      (p) => setMarks(p.events),
      () => setMarks([]),
    );
    void loadNext();
  }, [api, conversationId, loadNext]);

  useEffect(start, [start]);

  // Page as you scroll: the next page is read when the end of the timeline comes into view.
  useEffect(() => {
    const end = sentinel.current;
    if (!end || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadNext();
    }, { rootMargin: "600px" });
    observer.observe(end);
    return () => observer.disconnect();
  }, [loadNext, events.length]);

  async function jump(seq: number) {
    let loaded = state.current.events;
    while (!loaded.some((e) => e.seq >= seq) && state.current.after !== null) {
      const before = loaded.length;
      loaded = await loadNext();
      if (loaded.length === before) break;
    }
    requestAnimationFrame(() => {
      const target = document.getElementById(`step-${seq}`);
      target?.scrollIntoView({ block: "center" });
      target?.focus();
    });
  }

  return (
    <section aria-labelledby="replay-title">
      <p>
        <a href="#/conversations">← Conversations</a>
      </p>
      <h1 id="replay-title">
        Replay <code>{conversationId}</code>
      </h1>
      {error && <Failure message={error} onRetry={start} />}
      {summary ? <SummaryCard summary={summary} /> : !error && <Loading what="the summary" />}
      {marks.length > 0 && (
        <nav className="jumps" aria-label="Jump to approvals and errors" data-testid="replay-jumps">
          <span>Jump to:</span>
          {marks.map((m) => (
            <button type="button" className="btn btn-small" key={m.seq} onClick={() => jump(m.seq)}>
              {m.kind === "turn_error" ? "error" : m.kind.replace("_", " ")} #{m.seq}
            </button>
          ))}
        </nav>
      )}
      {events.length === 0 && after === null ? (
        <Empty>This conversation has no events yet.</Empty>
      ) : (
        <ol className="timeline" data-testid="replay-timeline" aria-label="Steps, in order">
          {events.map((e) => (
            <StepRow key={e.seq} item={step(e)} />
          ))}
        </ol>
      )}
      <div ref={sentinel} className="sentinel" data-testid="replay-end" data-complete={after === null}>
        {busy && <Loading what="more steps" />}
        {!busy && after !== null && events.length > 0 && (
          <button type="button" className="btn" onClick={() => void loadNext()} data-testid="more-steps">
            Load more steps
          </button>
        )}
        {after === null && events.length > 0 && <p className="muted">End of the conversation ({events.length} events).</p>}
      </div>
    </section>
  );
}
