import { type FormEvent, useCallback, useEffect, useRef, useState } from "react";

import type { Api, Query } from "./api";
import { describe } from "./api";
import type { ConversationOut } from "./api-types";
import { when } from "./format";
import { replayHref } from "./route";
import { Empty, Failure, Loading } from "./states";

const PAGE = 25;
const OUTCOMES = ["", "open", "resolved", "escalated", "abandoned", "unresolved"];
/** The first page is read again this often, so new conversations show up. */
const REFRESH_MS = 5000;

export interface Filters {
  outcome: string;
  agent: string;
  escalated: "" | "true" | "false";
  since: string;
  until: string;
}

export const NO_FILTERS: Filters = { outcome: "", agent: "", escalated: "", since: "", until: "" };

/** The query of a page: dates are days in the operator's time zone, until inclusive. */
export function filterQuery(filters: Filters, before?: string): Query {
  const day = (value: string, end: boolean) => {
    if (!value) return undefined;
    const date = new Date(`${value}T00:00:00`);
    if (end) date.setDate(date.getDate() + 1);
    return date.toISOString();
  };
  return {
    limit: PAGE,
    outcome: filters.outcome || undefined,
    agent: filters.agent.trim() || undefined,
    escalated: filters.escalated || undefined,
    since: day(filters.since, false),
    until: day(filters.until, true),
    before,
  };
}

export function ConversationTable({ rows }: { rows: ConversationOut[] }) {
  return (
    <table className="table" data-testid="conversation-table">
      <thead>
        <tr>
          <th scope="col">Conversation</th>
          <th scope="col">Started</th>
          <th scope="col">Agent</th>
          <th scope="col">Outcome</th>
          <th scope="col">Escalated</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr key={c.conversation_id} data-testid="conversation-row">
            <td>
              <a href={replayHref(c.conversation_id)}>{c.conversation_id}</a>
            </td>
            <td>{when(c.created_at)}</td>
            <td>{c.active_agent ?? "—"}</td>
            <td>
              <span className={`pill pill-${c.outcome ?? "open"}`}>{c.outcome ?? "open"}</span>
            </td>
            <td>{c.escalated ? "yes" : "no"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Conversations({ api }: { api: Api }) {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [rows, setRows] = useState<ConversationOut[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Once the operator reads further pages, the refresh stops (rows would jump under them).
  const paged = useRef(false);
  const first = useCallback(async () => {
    if (paged.current) return;
    try {
      const page = await api.conversations(filterQuery(filters));
      if (paged.current) return;
      setRows(page);
      setMore(page.length === PAGE);
      setError(null);
    } catch (failure) {
      setError(describe(failure));
    }
  }, [api, filters]);

  useEffect(() => {
    paged.current = false;
    setRows(null);
    void first();
    const timer = setInterval(first, REFRESH_MS);
    return () => clearInterval(timer);
  }, [first]);

  async function next() {
    if (!rows?.length) return;
    setBusy(true);
    paged.current = true;
    try {
      const page = await api.conversations(filterQuery(filters, rows[rows.length - 1].conversation_id));
      setRows([...rows, ...page]);
      setMore(page.length === PAGE);
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  }

  function apply(event: FormEvent) {
    event.preventDefault();
    setFilters({ ...draft });
  }

  const set = (key: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [key]: e.target.value });

  return (
    <section aria-labelledby="conversations-title">
      <h1 id="conversations-title">Conversations</h1>
      <form className="filters" onSubmit={apply} data-testid="conversation-filters">
        <label>
          Outcome
          <select aria-label="Outcome" value={draft.outcome} onChange={set("outcome")}>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agent
          <input aria-label="Agent" value={draft.agent} onChange={set("agent")} placeholder="any" maxLength={200} />
        </label>
        <label>
          Escalated
          <select aria-label="Escalated" value={draft.escalated} onChange={set("escalated")}>
            <option value="">any</option>
            <option value="true">yes</option>
            <option value="false">no</option>
          </select>
        </label>
        <label>
          From
          <input aria-label="From" type="date" value={draft.since} onChange={set("since")} />
        </label>
        <label>
          To
          <input aria-label="To" type="date" value={draft.until} onChange={set("until")} />
        </label>
        <button type="submit" className="btn btn-primary">
          Filter
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
          }}
        >
          Clear
        </button>
      </form>
      {error && <Failure message={error} onRetry={first} />}
      {rows === null ? (
        !error && <Loading what="conversations" />
      ) : rows.length === 0 ? (
        <Empty>
          {filters === NO_FILTERS
            ? "No conversations yet. They appear here as customers chat."
            : "No conversation matches these filters."}
        </Empty>
      ) : (
        <>
          <ConversationTable rows={rows} />
          {more && (
            <button type="button" className="btn" onClick={next} disabled={busy} data-testid="more-conversations">
              {busy ? "Loading…" : "Load more"}
            </button>
          )}
        </>
      )}
    </section>
  );
}
