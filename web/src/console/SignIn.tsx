import { type FormEvent, useEffect, useState } from "react";

import { Api, ApiFailure, describe } from "./api";

type Availability = "checking" | "on" | "off" | "unreachable";

/** What the server says before any token: 404 `operator_disabled` when the console is off. */
async function availability(): Promise<Availability> {
  try {
    await new Api("").check();
    return "on";
  } catch (error) {
    if (error instanceof ApiFailure) return error.code === "operator_disabled" ? "off" : "on";
    return "unreachable";
  }
}

export function ConsoleOff() {
  return (
    <div className="signin-card" data-testid="console-off">
      <h1>The operator console is off</h1>
      <p>
        No operator token is configured on this server. Set <code>OPERATOR_TOKEN</code> in its environment (or
        its <code>.env</code> file) to a long random value, restart the server, and sign in here with that token.
      </p>
      <pre>OPERATOR_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(32))")</pre>
      <p className="muted">
        <code>make demo</code> creates one for you and prints it with the console's address.
      </p>
    </div>
  );
}

export function SignIn({ onSignedIn }: { onSignedIn: (api: Api) => void }) {
  const [state, setState] = useState<Availability>("checking");
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    availability().then((a) => live && setState(a));
    return () => {
      live = false;
    };
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const api = new Api(token.trim());
    setBusy(true);
    setError(null);
    try {
      await api.check();
      onSignedIn(api);
    } catch (failure) {
      if (failure instanceof ApiFailure && failure.code === "operator_disabled") setState("off");
      setError(
        failure instanceof ApiFailure && failure.status === 401
          ? "That token is not the operator token. Check it and try again."
          : describe(failure),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      {state === "off" ? (
        <ConsoleOff />
      ) : (
        <form className="signin-card" onSubmit={submit} data-testid="signin">
          <h1>Operator console</h1>
          <p className="muted">Sign in with the server's operator token. It is kept for this browser tab only.</p>
          {state === "unreachable" && <p className="notice-error">The server cannot be reached. Is it running?</p>}
          <label htmlFor="token">Operator token</label>
          <input
            id="token"
            type="password"
            autoComplete="off"
            autoFocus
            value={token}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "token-error" : undefined}
          />
          {error && (
            <p id="token-error" className="notice-error" role="alert" data-testid="signin-error">
              {error}
            </p>
          )}
          <button type="submit" className="btn btn-primary" disabled={busy || !token.trim() || state === "checking"}>
            {busy ? "Checking…" : "Sign in"}
          </button>
        </form>
      )}
    </main>
  );
}
