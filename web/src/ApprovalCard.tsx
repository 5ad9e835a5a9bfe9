import { useEffect, useState } from "react";

import type { Item } from "./chat";

type ApprovalItem = Item & { kind: "approval" };

function remaining(expiresAt: string, now: number): number {
  return Math.max(0, Math.floor((Date.parse(expiresAt) - now) / 1000));
}

function clock(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${s.toString().padStart(2, "0")}`;
}

const OUTCOME: Record<string, string> = {
  approved: "Approved",
  rejected: "Rejected — nothing was changed",
  expired: "Expired — nothing was changed",
  cancelled: "Cancelled — nothing was changed",
};

export function ApprovalCard({
  item,
  onDecide,
}: {
  item: ApprovalItem;
  onDecide: (approvalId: string, decision: "approve" | "reject") => void;
}) {
  const { approval, status } = item;
  const [now, setNow] = useState(() => Date.now());
  const open = status === "pending" || status === "deciding";

  useEffect(() => {
    if (!open) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [open]);

  const left = remaining(approval.expires_at, now);
  const headingId = `approval-${approval.approval_id}`;

  return (
    <section
      className={`approval approval-${status}`}
      aria-labelledby={headingId}
      data-testid="approval-card"
      data-approval-id={approval.approval_id}
      data-status={status}
    >
      <header>
        <span className="approval-icon" aria-hidden="true">
          ⚠
        </span>
        <h2 id={headingId}>{open ? "Your approval is needed" : "Action requested"}</h2>
      </header>
      <p className="approval-summary" data-testid="approval-summary">
        {approval.summary}
      </p>
      <details className="approval-details">
        <summary>Exact details</summary>
        <pre data-testid="approval-args">{JSON.stringify(approval.args, null, 2)}</pre>
      </details>
      {open ? (
        <div className="approval-actions">
          <button
            type="button"
            className="btn btn-primary"
            data-testid="approve-button"
            disabled={status === "deciding" || left === 0}
            onClick={() => onDecide(approval.approval_id, "approve")}
          >
            Approve
          </button>
          <button
            type="button"
            className="btn"
            data-testid="reject-button"
            disabled={status === "deciding" || left === 0}
            onClick={() => onDecide(approval.approval_id, "reject")}
          >
            Reject
          </button>
          <span className="countdown" data-testid="approval-countdown" aria-live="off">
            {status === "deciding"
              ? "Sending your decision…"
              : left > 0
                ? `Expires in ${clock(left)}`
                : "Expiring…"}
          </span>
        </div>
      ) : (
        <p className={`approval-outcome outcome-${status}`} data-testid="approval-status" role="status">
          {OUTCOME[status] ?? status}
        </p>
      )}
    </section>
  );
}
