import { type FormEvent, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

import type { Api } from "./api";
import { describe } from "./api";
import type { Analytics } from "./api-types";
import { lastDays, money, percent } from "./format";
import { Empty, Failure, Loading } from "./states";
import { usePolling } from "./usePolling";

const RANGES = [
  { days: 1, label: "24 hours" },
  { days: 7, label: "7 days" },
  { days: 30, label: "30 days" },
  { days: 90, label: "90 days" },
];

/** The figure cards of a window, null figures shown as "—" (nothing closed yet). */
export function cards(a: Analytics): [string, string, string][] {
  return [
    ["conversations", "Conversations", String(a.conversations)],
    ["resolution", "Resolution rate", percent(a.resolution_rate)],
    ["escalation", "Escalation share", percent(a.escalation_share)],
    ["cost-per-resolution", "Cost per resolution", money(a.cost_per_resolution_usd)],
    ["cost", "LLM cost", money(a.usage.cost_usd)],
    [
      "approvals",
      "Approvals",
      `${a.approvals.requested} asked · ${a.approvals.approved} approved · ${a.approvals.rejected} rejected`,
    ],
    ["satisfaction", "Satisfaction", percent(a.feedback.satisfaction)],
    ["turns", "Customer messages", String(a.turns)],
  ];
}

export function perAgent(a: Analytics) {
  return Object.entries(a.agents).map(([agent, f]) => ({
    agent,
    turns: f.turns,
    tool_calls: f.tool_calls,
    cost: Number(f.usage.cost_usd.toFixed(6)),
  }));
}

export function perModel(a: Analytics) {
  return Object.entries(a.usage_by_model).map(([model, u]) => ({
    model,
    calls: u.model_calls,
    cost: Number(u.cost_usd.toFixed(6)),
  }));
}

export function Figures({ analytics }: { analytics: Analytics }) {
  if (analytics.conversations === 0)
    return (
      <Empty>
        <strong>No conversations in this range yet.</strong> Figures appear once customers chat: open the{" "}
        <a href="./">customer chat</a> and ask something.
      </Empty>
    );
  return (
    <>
      <dl className="cards" data-testid="dashboard-cards">
        {cards(analytics).map(([id, label, value]) => (
          <div className="card" key={id} data-testid={`card-${id}`}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <div className="charts">
        <figure className="chart" data-testid="chart-series">
          <figcaption>Conversations and cost per day</figcaption>
          <ResponsiveContainer width="100%" height={240}>
            <LineChart data={analytics.series}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="bucket" />
              <YAxis yAxisId="n" allowDecimals={false} />
              <YAxis yAxisId="usd" orientation="right" />
              <Tooltip />
              <Legend />
              <Line yAxisId="n" type="monotone" dataKey="conversations" stroke="#2f5bea" isAnimationActive={false} />
              <Line yAxisId="usd" type="monotone" dataKey="cost_usd" name="cost (USD)" stroke="#b54708" isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </figure>
        <figure className="chart" data-testid="chart-agents">
          <figcaption>Per agent</figcaption>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={perAgent(analytics)}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="agent" />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Legend />
              <Bar dataKey="turns" fill="#2f5bea" isAnimationActive={false} />
              <Bar dataKey="tool_calls" name="tool calls" fill="#067647" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
        <figure className="chart" data-testid="chart-models">
          <figcaption>Per model</figcaption>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={perModel(analytics)}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="model" />
              <YAxis />
              <Tooltip />
              <Legend />
              <Bar dataKey="calls" name="model calls" fill="#7a5af8" isAnimationActive={false} />
              <Bar dataKey="cost" name="cost (USD)" fill="#b54708" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
      </div>
    </>
  );
}

/** The window of a custom range: whole days in the browser's time zone, `to` inclusive. */
export function customRange(from: string, to: string): { since: string; until: string } | null {
  if (!from || !to) return null;
  const since = new Date(`${from}T00:00:00`);
  const until = new Date(`${to}T00:00:00`);
  until.setDate(until.getDate() + 1);
  if (Number.isNaN(since.getTime()) || Number.isNaN(until.getTime()) || since >= until) return null;
  return { since: since.toISOString(), until: until.toISOString() };
}

export function Dashboard({ api }: { api: Api }) {
  const [days, setDays] = useState<number | null>(30);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [custom, setCustom] = useState<{ since: string; until: string } | null>(null);
  const [csvError, setCsvError] = useState<string | null>(null);
  const range = () => (days === null && custom ? custom : lastDays(days ?? 30));
  const { data, error, loading, reload } = usePolling(() => {
    const { since, until } = range();
    return api.analytics(since, until);
  }, 0, [api, days, custom]);

  function applyCustom(event: FormEvent) {
    event.preventDefault();
    const chosen = customRange(from, to);
    if (!chosen) {
      setCsvError("Choose a start day on or before the end day.");
      return;
    }
    setCsvError(null);
    setCustom(chosen);
    setDays(null);
  }

  async function download() {
    setCsvError(null);
    try {
      const { since, until } = range();
      const blob = await api.analyticsCsv(since, until);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = days === null ? `analytics-${from}-${to}.csv` : `analytics-${days}d.csv`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (failure) {
      setCsvError(describe(failure));
    }
  }

  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      <div className="toolbar">
        <div role="group" aria-label="Range" className="segmented">
          {RANGES.map((r) => (
            <button
              type="button"
              key={r.days}
              className="btn"
              aria-pressed={days === r.days}
              onClick={() => setDays(r.days)}
            >
              {r.label}
            </button>
          ))}
        </div>
        <form className="filters range" onSubmit={applyCustom} aria-label="Custom range">
          <label>
            From
            <input aria-label="From day" type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            To
            <input aria-label="To day" type="date" value={to} onChange={(e) => setTo(e.target.value)} />
          </label>
          <button type="submit" className="btn" aria-pressed={days === null}>
            Apply range
          </button>
        </form>
        <button type="button" className="btn" onClick={reload}>
          Refresh
        </button>
        <button type="button" className="btn" onClick={download} data-testid="csv-download">
          Download CSV
        </button>
      </div>
      {csvError && <Failure message={csvError} />}
      {error && <Failure message={error} onRetry={reload} />}
      {loading && !data ? <Loading what="the figures" /> : data && <Figures analytics={data} />}
    </section>
  );
}
