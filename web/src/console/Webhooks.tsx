import { useState } from "react";

import type { Api } from "./api";
import { describe } from "./api";
import type { DeliveryOut } from "./api-types";
import { when } from "./format";
import { replayHref } from "./route";
import { Empty, Failure, Loading } from "./states";
import { usePolling } from "./usePolling";

/** How often the outbox is read again while the page is open. */
export const WEBHOOKS_POLL_MS = 5000;
const PAGE = 50;

type Status = DeliveryOut["status"];
const STATUSES: { status: Status | null; label: string }[] = [
  { status: null, label: "All" },
  { status: "pending", label: "Pending" },
  { status: "delivered", label: "Delivered" },
  { status: "dead", label: "Dead letters" },
  { status: "disabled", label: "Disabled" },
];

/**
 * An endpoint as the console shows it: scheme://host/path only. The query string (and any
 * user:password) may carry a token, so it is never rendered.
 */
export function safeEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return endpoint.split(/[?#]/, 1)[0].replace(/\/\/[^/@]*@/, "//");
  }
}

/** An error text with every URL in it cut to scheme://host/path (an error may quote the URL). */
export function safeError(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (url) => safeEndpoint(url));
}

export function DeliveryRow({ delivery, api, onChanged }: { delivery: DeliveryOut; api: Api; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      onChanged();
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  };
  const d = delivery;
  return (
    <tr data-testid="delivery" data-delivery-id={d.id} data-status={d.status}>
      <td>
        <code>{d.event_type}</code>
        <div className="muted">{when(d.created_at)}</div>
      </td>
      <td>{d.conversation_id ? <a href={replayHref(d.conversation_id)}>{d.conversation_id}</a> : "—"}</td>
      <td data-testid="delivery-endpoint">{safeEndpoint(d.endpoint)}</td>
      <td>
        <span className={`pill pill-${d.status}`} data-testid="delivery-status">
          {d.status}
        </span>
      </td>
      <td>{d.attempts}</td>
      <td className={d.last_error ? "error-text" : undefined}>
        {d.last_status !== null ? `HTTP ${d.last_status}` : d.attempts ? "no answer" : "—"}
        {d.last_error && d.last_error !== `HTTP ${d.last_status}` ? <div>{safeError(d.last_error)}</div> : null}
      </td>
      <td>{d.status === "pending" ? when(d.next_attempt_at) : d.delivered_at ? `delivered ${when(d.delivered_at)}` : "—"}</td>
      <td>
        {(d.status === "dead" || d.status === "disabled") && (
          <button
            type="button"
            className="btn btn-small"
            disabled={busy}
            onClick={() => act(() => api.replayDelivery(d.id))}
            aria-label={`Retry delivery ${d.id}`}
          >
            {busy ? "Retrying…" : "Retry"}
          </button>
        )}{" "}
        {d.status === "disabled" && (
          <button
            type="button"
            className="btn btn-small"
            disabled={busy}
            onClick={() => act(() => api.enableEndpoint(d.endpoint))}
          >
            Enable endpoint
          </button>
        )}
        {error && <div className="error-text" role="alert">{error}</div>}
      </td>
    </tr>
  );
}

export function Webhooks({ api }: { api: Api }) {
  const [status, setStatus] = useState<Status | null>(null);
  const [offset, setOffset] = useState(0);
  const { data, error, loading, reload } = usePolling(
    () => api.deliveries({ status, limit: PAGE, offset }),
    WEBHOOKS_POLL_MS,
    [api, status, offset],
  );
  return (
    <section aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhooks</h1>
      <p className="muted">
        The webhook outbox, newest first: what was sent to which endpoint and how its attempts went. A dead letter
        ran out of retries; a disabled one waits for its endpoint (it answered 410 Gone) to be enabled again.
      </p>
      <div className="status-tabs" role="group" aria-label="Delivery status">
        {STATUSES.map((s) => (
          <button
            key={s.label}
            type="button"
            className="btn btn-small"
            aria-pressed={status === s.status}
            onClick={() => {
              setStatus(s.status);
              setOffset(0);
            }}
          >
            {s.label}
          </button>
        ))}
      </div>
      {error && <Failure message={error} onRetry={reload} />}
      {loading && !data ? (
        <Loading what="deliveries" />
      ) : data && data.deliveries.length === 0 ? (
        <Empty>{status ? `No ${status} deliveries.` : "No webhook deliveries yet (WEBHOOK_URLS sets the endpoints)."}</Empty>
      ) : (
        <>
          <table className="deliveries" data-testid="deliveries">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Conversation</th>
                <th scope="col">Endpoint</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">Next attempt</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data?.deliveries.map((d) => <DeliveryRow key={d.id} delivery={d} api={api} onChanged={reload} />)}
            </tbody>
          </table>
          <div className="actions">
            <button
              type="button"
              className="btn btn-small"
              disabled={offset === 0}
              onClick={() => setOffset(Math.max(0, offset - PAGE))}
            >
              Newer
            </button>
            <button
              type="button"
              className="btn btn-small"
              disabled={data?.next_offset == null}
              onClick={() => data?.next_offset != null && setOffset(data.next_offset)}
            >
              Older
            </button>
          </div>
        </>
      )}
    </section>
  );
}
