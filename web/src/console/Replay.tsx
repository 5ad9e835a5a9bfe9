import { memo, useCallback, useEffect, useRef, useState } from "react";

import type { Api } from "./api";
import { describe } from "./api";
import type { ConversationSummary, LoggedEvent } from "./api-types";
import { money, step, type Step, tokens, when } from "./format";
import { Empty, Failure, Loading } from "./states";
import {
  aroundSeq,
  appendPage,
  EMPTY,
  earlierQuery,
  hasEarlier,
  prependPage,
  type TimelineWindow,
} from "./timeline";

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

/** A logged event never changes: its row renders once, however many pages follow. */
const EventRow = memo(function EventRow({ event }: { event: LoggedEvent }) {
  return <StepRow item={step(event)} />;
});

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
  const [view, setView] = useState<TimelineWindow>(EMPTY);
  const [marks, setMarks] = useState<LoggedEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The step a jump lands on: focused once it is rendered (its page may still be on its way).
  const [landing, setLanding] = useState<number | null>(null);
  const top = useRef<HTMLDivElement>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const state = useRef({ view: EMPTY, busy: false });

  /** One read at a time; `change` makes the next window from the current one. */
  const read = useCallback(async (change: (w: TimelineWindow) => Promise<TimelineWindow>) => {
    const s = state.current;
    if (s.busy) return;
    s.busy = true;
    setBusy(true);
    try {
      s.view = await change(s.view);
      setView(s.view);
      setError(null);
    } catch (failure) {
      setError(describe(failure));
    } finally {
      s.busy = false;
      setBusy(false);
    }
  }, []);

  const loadNext = useCallback(
    () =>
      read(async (w) =>
        w.next === null ? w : appendPage(w, await api.events(conversationId, w.next, PAGE)),
      ),
    [api, conversationId, read],
  );

  const loadEarlier = useCallback(
    () =>
      read(async (w) => {
        const query = earlierQuery(w, PAGE);
        if (!query) return w;
        return prependPage(w, (await api.events(conversationId, query.after, query.limit)).events);
      }),
    [api, conversationId, read],
  );

  const start = useCallback(() => {
    state.current = { view: EMPTY, busy: false };
    setView(EMPTY);
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

  // Page as you scroll, both ways: a page is read when either end of the window comes into view.
  const earlier = hasEarlier(view);
  useEffect(() => {
    if (typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          if (entry.target === bottom.current) void loadNext();
          else if (entry.target === top.current) void loadEarlier();
        }
      },
      { rootMargin: "600px" },
    );
    if (bottom.current) observer.observe(bottom.current);
    if (top.current) observer.observe(top.current);
    return () => observer.disconnect();
  }, [loadNext, loadEarlier, view, earlier]);

  async function jump(seq: number) {
    if (!state.current.view.events.some((e) => e.seq === seq)) {
      // A window opened on the step: the pages before it are read only if one scrolls up.
      await read(async () => appendPage(EMPTY, await api.events(conversationId, aroundSeq(seq), PAGE)));
    }
    setLanding(seq);
  }

  useEffect(() => {
    if (landing === null) return;
    const target = document.getElementById(`step-${landing}`);
    if (!target) return; // not rendered yet: this runs again when the window changes
    target.scrollIntoView({ block: "center" });
    target.focus();
    setLanding(null);
  }, [landing, view]);

  const { events, next } = view;
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
      {earlier && (
        <div ref={top} className="sentinel" data-testid="replay-start">
          <button type="button" className="btn" onClick={() => void loadEarlier()} disabled={busy}>
            Show earlier steps (before #{events[0].seq})
          </button>
        </div>
      )}
      {events.length === 0 && next === null ? (
        <Empty>This conversation has no events yet.</Empty>
      ) : (
        <ol className="timeline" data-testid="replay-timeline" aria-label="Steps, in order">
          {events.map((e) => (
            <EventRow key={e.seq} event={e} />
          ))}
        </ol>
      )}
      <div ref={bottom} className="sentinel" data-testid="replay-end" data-complete={next === null}>
        {busy && <Loading what="more steps" />}
        {!busy && next !== null && events.length > 0 && (
          <button type="button" className="btn" onClick={() => void loadNext()} data-testid="more-steps">
            Load more steps
          </button>
        )}
        {next === null && events.length > 0 && (
          <p className="muted">End of the conversation (#{events[events.length - 1].seq}).</p>
        )}
      </div>
    </section>
  );
}
