import { useState } from "react";

import { Frame } from "./Chat";
import { type DemoCustomer, type Session, customerLine, sessionFor } from "./session";

/**
 * The demo's "who are you?": chat as one of the demo shop's customers (the server signs their
 * identity, as a shop's own server would for its logged-in customer) or anonymously.
 */
export function Picker({
  customers,
  onChoose,
}: {
  customers: DemoCustomer[];
  onChoose: (session: Session) => void;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);

  const pick = async (customer: DemoCustomer) => {
    setBusy(customer.email);
    setFailed(false);
    try {
      const response = await fetch("api/v1/demo/identity", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: customer.email }),
      });
      const body = (await response.json()) as { identity?: unknown };
      if (!response.ok || typeof body.identity !== "string") throw new Error("no identity");
      onChoose(sessionFor(body.identity));
    } catch {
      setFailed(true);
      setBusy(null);
    }
  };

  return (
    <Frame embedded={false}>
      <header className="widget-header">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            S
          </span>
          <div>
            <h1>Support</h1>
            <p className="status">Demo</p>
          </div>
        </div>
      </header>
      <div className="picker" data-testid="picker">
        <h2>Who are you?</h2>
        <p className="picker-hint">
          This is a demo. Continue as one of the demo shop&apos;s customers, as if the shop had signed you in,
          or anonymously (the assistant then asks who you are before it shows anything personal).
        </p>
        <h3 id="demo-customers">Continue as a demo customer</h3>
        <ul className="customers" aria-labelledby="demo-customers">
          {customers.map((customer) => (
            <li key={customer.customer_id}>
              <button
                type="button"
                className="customer"
                data-testid="demo-customer"
                data-email={customer.email}
                disabled={busy !== null}
                onClick={() => void pick(customer)}
              >
                <span className="customer-name">{customer.name}</span>
                <span className="customer-line">{customerLine(customer)}</span>
              </button>
            </li>
          ))}
        </ul>
        {failed && (
          <p className="notice notice-error" role="alert">
            Signing in did not work. Try again, or continue anonymously.
          </p>
        )}
        <button
          type="button"
          className="btn anonymous"
          data-testid="continue-anonymously"
          disabled={busy !== null}
          onClick={() => onChoose(sessionFor(null))}
        >
          Continue anonymously
        </button>
      </div>
    </Frame>
  );
}
