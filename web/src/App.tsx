import { useCallback, useEffect, useState } from "react";

import { Chat, Frame } from "./Chat";
import { Picker } from "./Picker";
import {
  ANONYMOUS,
  acceptedIdentity,
  type DemoCustomer,
  hostOrigin,
  parseCustomers,
  READY,
  type Session,
  sessionFor,
} from "./session";
import { forgetSaved, loadSaved } from "./useChat";

/** How long the embedded chat waits for the host page's hand-over before starting anonymously. */
const HANDOVER_WAIT_MS = 3000;

function Waiting({ embedded }: { embedded: boolean }) {
  return (
    <Frame embedded={embedded}>
      <div className="empty" data-testid="chat-status" data-status="connecting">
        Connecting…
      </div>
    </Frame>
  );
}

/**
 * The standalone page (`/`): with the demo's picker when the server offers one
 * (`GET /api/v1/demo/customers` answers 200), otherwise straight into an anonymous chat.
 */
function Standalone() {
  // undefined: still asking; null: no picker (not a demo)
  const [customers, setCustomers] = useState<DemoCustomer[] | null | undefined>(undefined);
  const [session, setSession] = useState<Session | null>(null);
  const [resumeAny, setResumeAny] = useState(false);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let cancelled = false;
    fetch("api/v1/demo/customers")
      .then(async (r) => (r.ok ? parseCustomers(await r.json()) : null))
      .catch(() => null)
      .then((list) => {
        if (cancelled) return;
        setCustomers(list);
        if (list === null) {
          setSession(ANONYMOUS);
        } else if (loadSaved() !== null) {
          // A conversation of this browser: whoever it was started as, go on with it.
          setResumeAny(true);
          setSession(ANONYMOUS);
        }
      });
    return () => {
      cancelled = true;
    };
  }, []);

  const toPicker = useCallback(() => {
    forgetSaved();
    setResumeAny(false);
    setSession(null);
  }, []);

  const choose = useCallback((next: Session) => {
    forgetSaved();
    setResumeAny(false);
    setSession(next);
    setGeneration((g) => g + 1);
  }, []);

  if (customers === undefined) return <Waiting embedded={false} />;
  if (session === null && customers !== null) return <Picker customers={customers} onChoose={choose} />;
  return (
    <Chat
      key={generation}
      session={session ?? ANONYMOUS}
      embedded={false}
      resumeAny={resumeAny}
      onNewChat={customers !== null ? toPicker : undefined}
      onResumeLost={customers !== null ? toPicker : undefined}
      onContinueAnonymously={() => choose(ANONYMOUS)}
    />
  );
}

/**
 * The chat inside a host site's page (`/?embed=1&origin=...`, framed by embed.js). The host
 * hands over its signed-in customer's identity with postMessage; only the parent window, from an
 * origin in ALLOWED_ORIGINS, is listened to. Without a hand-over the chat starts anonymously.
 */
function Embedded() {
  const [session, setSession] = useState<Session | null>(null);

  useEffect(() => {
    let allowed: string[] = [];
    const decide = (next: Session) => setSession((prev) => (prev && prev.who === next.who ? prev : next));
    const onMessage = (event: MessageEvent) => {
      const identity = acceptedIdentity(event, window.parent, window, allowed);
      if (identity !== undefined) decide(sessionFor(identity));
    };
    window.addEventListener("message", onMessage);
    const timer = window.setTimeout(() => setSession((prev) => prev ?? ANONYMOUS), HANDOVER_WAIT_MS);
    fetch("api/v1/info")
      .then((r) => r.json())
      .then((info: { allowed_origins?: unknown }) => {
        allowed = Array.isArray(info.allowed_origins) ? info.allowed_origins.filter((o) => typeof o === "string") : [];
        const host = hostOrigin(window.location.search, allowed);
        if (host && window.parent !== window) {
          window.parent.postMessage({ type: READY }, host);
        } else {
          setSession((prev) => prev ?? ANONYMOUS); // nobody may hand an identity over
        }
      })
      .catch(() => setSession((prev) => prev ?? ANONYMOUS));
    return () => {
      window.removeEventListener("message", onMessage);
      window.clearTimeout(timer);
    };
  }, []);

  if (session === null) return <Waiting embedded />;
  return <Chat key={session.who} session={session} embedded onContinueAnonymously={() => setSession(ANONYMOUS)} />;
}

export function App() {
  const embedded = new URLSearchParams(window.location.search).get("embed") === "1";
  return embedded ? <Embedded /> : <Standalone />;
}
