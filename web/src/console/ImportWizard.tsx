import { type DragEvent, type FormEvent, useEffect, useState } from "react";

import type { Api } from "./api";
import { ApiFailure, describe } from "./api";
import type { ChangeIn, ImportDraftHead, ImportDraftOut, ImportJobOut } from "./api-types";
import { followImports } from "./operatorSocket";
import { agentNames, agents, type OperationRow, rows } from "./review";
import { Empty, Failure, Loading } from "./states";

/** The job is also read over REST this often, should the operator socket be unavailable. */
const JOB_POLL_MS = 1500;

function Progress({ job }: { job: ImportJobOut }) {
  const share = job.total > 0 ? Math.round((job.done / job.total) * 100) : null;
  return (
    <div className="progress" role="status" data-testid="import-progress" data-status={job.status}>
      <p>
        <strong>{job.status}</strong> {job.stage && `· ${job.stage}`}
        {job.total > 0 && ` · ${job.done} of ${job.total} operations`}
      </p>
      <progress max={100} value={share ?? undefined} aria-label="Import progress" />
      {job.status === "failed" && <Failure message={job.error ?? "The import failed."} />}
    </div>
  );
}

function Source({ api, onJob }: { api: Api; onJob: (job: ImportJobOut) => void }) {
  const [url, setUrl] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [over, setOver] = useState(false);

  async function start(source: { url: string } | { document: string }) {
    setError(null);
    try {
      onJob(await api.startImport(source));
    } catch (failure) {
      setError(describe(failure));
    }
  }

  async function file(files: FileList | null) {
    const chosen = files?.[0];
    if (chosen) await start({ document: await chosen.text() });
  }

  return (
    <div className="import-source">
      <form
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          if (url.trim()) void start({ url: url.trim() });
        }}
      >
        <label htmlFor="spec-url">OpenAPI spec URL</label>
        <div className="inline">
          <input id="spec-url" type="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://…/openapi.json" />
          <button type="submit" className="btn btn-primary" disabled={!url.trim()}>
            Import
          </button>
        </div>
      </form>
      <div
        className={`dropzone${over ? " dropzone-over" : ""}`}
        onDragOver={(e: DragEvent) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e: DragEvent) => {
          e.preventDefault();
          setOver(false);
          void file(e.dataTransfer.files);
        }}
      >
        <label htmlFor="spec-file">Or drop a spec file here (JSON or YAML), or choose one:</label>
        <input id="spec-file" type="file" accept=".json,.yaml,.yml" onChange={(e) => void file(e.target.files)} />
      </div>
      {error && <Failure message={error} />}
    </div>
  );
}

function Review({ api, initial, onClosed }: { api: Api; initial: ImportDraftOut; onClosed: (d: ImportDraftOut) => void }) {
  const [draft, setDraft] = useState(initial);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<ChangeIn[] | null>(null);
  const [busy, setBusy] = useState(false);
  const table = rows(draft);
  const names = agentNames(draft, table);

  async function apply(changes: ChangeIn[]) {
    setBusy(true);
    setError(null);
    let current = draft;
    try {
      for (const change of changes) current = await api.change(draft.id, change);
      setConfirm(null);
    } catch (failure) {
      if (failure instanceof ApiFailure && failure.code === "confirmation_needed")
        setConfirm(changes.map((c) => ({ ...c, confirm: true })));
      else setError(describe(failure));
    } finally {
      setDraft(current);
      setBusy(false);
    }
  }

  const change = (row: OperationRow, field: string, value: unknown) =>
    apply([{ operation: row.name, field, value, confirm: false }]);
  const bulk = (field: string, value: unknown) =>
    apply([...selected].map((operation) => ({ operation, field, value, confirm: false })));

  async function close(how: "accept" | "discard") {
    setBusy(true);
    setError(null);
    try {
      onClosed(how === "accept" ? await api.accept(draft.id) : await api.discard(draft.id));
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  }

  const toggle = (name: string) => {
    const next = new Set(selected);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setSelected(next);
  };

  return (
    <div data-testid="import-review">
      <h2>
        Review <em>{draft.name}</em>
      </h2>
      <p className="muted">
        {table.length} operations · source {draft.source === "document" ? "an uploaded document" : draft.source}. Changes save at once.
      </p>
      {draft.warnings.map((w) => (
        <p key={w} className="notice-warn" role="note">
          {w}
        </p>
      ))}
      {confirm && (
        <div className="notice-warn" role="alertdialog" aria-label="Confirm" data-testid="confirm-read">
          <p>Marking a write operation read lets agents call it without anyone approving it.</p>
          <button type="button" className="btn btn-danger" onClick={() => apply(confirm)} autoFocus>
            Mark it read anyway
          </button>{" "}
          <button type="button" className="btn" onClick={() => setConfirm(null)}>
            Keep it write
          </button>
        </div>
      )}
      {error && <Failure message={error} />}
      <div className="toolbar" role="group" aria-label="Selected operations">
        <span>{selected.size} selected:</span>
        <button type="button" className="btn btn-small" disabled={!selected.size || busy} onClick={() => bulk("access", "write")}>
          Mark write
        </button>
        <button type="button" className="btn btn-small" disabled={!selected.size || busy} onClick={() => bulk("access", "read")}>
          Mark read
        </button>
        <button type="button" className="btn btn-small" disabled={!selected.size || busy} onClick={() => bulk("relevance", "off")}>
          Turn off
        </button>
        <button type="button" className="btn btn-small" disabled={!selected.size || busy} onClick={() => bulk("relevance", "on")}>
          Turn on
        </button>
      </div>
      <div className="table-wrap">
        <table className="table review" data-testid="review-table">
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select every operation"
                  checked={selected.size === table.length && table.length > 0}
                  onChange={(e) => setSelected(new Set(e.target.checked ? table.map((r) => r.name) : []))}
                />
              </th>
              <th scope="col">Operation</th>
              <th scope="col">Access</th>
              <th scope="col">Agent</th>
              <th scope="col">On</th>
              <th scope="col">Customer parameters</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {table.map((row) => (
              <tr
                key={row.name}
                data-testid="review-row"
                data-operation={row.name}
                className={`${row.access === "write" ? "row-write" : ""} ${row.relevance === "off" ? "row-off" : ""}`}
              >
                <td>
                  <input type="checkbox" aria-label={`Select ${row.name}`} checked={selected.has(row.name)} onChange={() => toggle(row.name)} />
                </td>
                <td>
                  <code>{row.name}</code>
                  <div className="muted">
                    {row.method} {row.path}
                  </div>
                  {row.writeMarkedRead && (
                    <div className="notice-warn small" data-testid="write-marked-read">
                      {row.method} looks like a write, but it is marked read.
                    </div>
                  )}
                </td>
                <td>
                  <select
                    aria-label={`Access of ${row.name}`}
                    value={row.access}
                    disabled={busy}
                    onChange={(e) => change(row, "access", e.target.value)}
                    className={row.access === "write" ? "access-write" : ""}
                  >
                    <option value="read">read</option>
                    <option value="write">write (asks approval)</option>
                  </select>
                </td>
                <td>
                  <select
                    aria-label={`Agent of ${row.name}`}
                    value={row.agent ?? ""}
                    disabled={busy}
                    onChange={(e) => change(row, "agent", e.target.value || null)}
                  >
                    <option value="">none (off)</option>
                    {names.map((n) => (
                      <option key={n} value={n}>
                        {n}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`${row.name} is on`}
                    checked={row.relevance !== "off"}
                    disabled={busy}
                    onChange={(e) => change(row, "relevance", e.target.checked ? "on" : "off")}
                  />
                </td>
                <td>
                  {row.parameters.length === 0
                    ? "—"
                    : row.parameters.map((p) => (
                        <label key={p.name} className="param" title={p.why}>
                          {p.name}{" "}
                          <select
                            aria-label={`Role of ${p.name} in ${row.name}`}
                            value={p.role}
                            disabled={busy}
                            onChange={(e) => change(row, `parameter.${p.name}.role`, e.target.value)}
                          >
                            <option value="customer">customer</option>
                            <option value="identity">identity</option>
                            <option value="config">config</option>
                          </select>
                        </label>
                      ))}
                </td>
                <td className="why">
                  {Object.entries(row.decisions).map(([field, d]) => (
                    <div key={field}>
                      <strong>{field}</strong>: {d.reason ?? "—"} <span className="muted">({d.source ?? "?"})</span>
                    </div>
                  ))}
                  {row.changed.length > 0 && <div className="changed">changed: {row.changed.join(", ")}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Agents this makes</h3>
      <ul data-testid="generated-agents">
        {agents(draft, table).map((g) => (
          <li key={g.agent}>
            <strong>{g.display}</strong> (<code>{g.agent}</code>): {g.tools.join(", ")}
          </li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" className="btn btn-primary" disabled={busy} onClick={() => close("accept")} data-testid="accept-import">
          Accept and go live
        </button>
        <button type="button" className="btn btn-danger" disabled={busy} onClick={() => close("discard")}>
          Discard
        </button>
      </div>
    </div>
  );
}

export function ImportWizard({ api }: { api: Api }) {
  const [job, setJob] = useState<ImportJobOut | null>(null);
  const [draft, setDraft] = useState<ImportDraftOut | null>(null);
  const [closed, setClosed] = useState<ImportDraftOut | null>(null);
  const [drafts, setDrafts] = useState<ImportDraftHead[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.drafts().then(setDrafts, (f) => setError(describe(f)));
  }, [api, closed]);

  // Live progress over the operator socket while the wizard is open.
  useEffect(
    () =>
      followImports(api.token, (frame) =>
        setJob((current) =>
          current && current.id === frame.job_id && current.status !== "ready" && current.status !== "failed"
            ? { ...current, status: frame.status, stage: frame.stage, done: frame.done, total: frame.total, error: frame.error, error_code: frame.error_code, draft_id: frame.draft_id }
            : current,
        ),
      ),
    [api],
  );

  // A job the socket says is ready: open its draft.
  const readyDraft = job?.status === "ready" ? job.draft_id : null;
  useEffect(() => {
    if (!readyDraft) return;
    api.draft(readyDraft).then(setDraft, (f) => setError(describe(f)));
  }, [api, readyDraft]);

  // Follow the job over REST too until it is ready or failed.
  useEffect(() => {
    if (!job || job.status === "failed" || job.status === "ready") return;
    const timer = setTimeout(async () => {
      try {
        const next = await api.job(job.id);
        setJob((current) => (current && current.id === next.id && current.status !== "ready" ? next : current));
      } catch (failure) {
        setError(describe(failure));
      }
    }, JOB_POLL_MS);
    return () => clearTimeout(timer);
  }, [api, job]);

  const open = async (id: string) => {
    try {
      setClosed(null);
      setDraft(await api.draft(id));
    } catch (failure) {
      setError(describe(failure));
    }
  };

  return (
    <section aria-labelledby="import-title">
      <h1 id="import-title">Import an API</h1>
      {error && <Failure message={error} />}
      {closed && (
        <p className={closed.status === "accepted" ? "notice-ok" : "notice-warn"} role="status" data-testid="import-closed">
          {closed.status === "accepted"
            ? `Live: ${closed.live_agents.join(", ") || "no agents"}. New conversations can use them now.`
            : `Discarded ${closed.name}.`}
        </p>
      )}
      {draft && draft.status === "draft" && !closed ? (
        <Review
          api={api}
          initial={draft}
          onClosed={(d) => {
            setClosed(d);
            setDraft(null);
            setJob(null);
          }}
        />
      ) : (
        <>
          <Source
            api={api}
            onJob={(j) => {
              setClosed(null);
              setJob(j);
            }}
          />
          {job && <Progress job={job} />}
          <h2>Drafts waiting for review</h2>
          {drafts === null ? (
            <Loading what="drafts" />
          ) : drafts.length === 0 ? (
            <Empty>No drafts. Import a spec above.</Empty>
          ) : (
            <ul className="drafts">
              {drafts.map((d) => (
                <li key={d.id}>
                  <button type="button" className="btn btn-small" onClick={() => open(d.id)}>
                    Review
                  </button>{" "}
                  <strong>{d.name}</strong> · {d.counts.operations ?? 0} operations ({d.counts.write ?? 0} write)
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
