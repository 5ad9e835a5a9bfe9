import { lazy, Suspense, useCallback, useEffect, useState } from "react";

import { Api, ApiFailure, saveToken, savedToken } from "./api";
import { Approvals } from "./Approvals";
import { Conversations } from "./Conversations";
import { Escalations } from "./Escalations";
import { ImportWizard } from "./ImportWizard";
import { Replay } from "./Replay";
import { PAGES, parseRoute, type Route } from "./route";
import { SignIn } from "./SignIn";
import { Loading } from "./states";
import { Webhooks } from "./Webhooks";

// The chart library is loaded with the dashboard only.
const Dashboard = lazy(() => import("./Dashboard").then((m) => ({ default: m.Dashboard })));

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

function Page({ route, api }: { route: Route; api: Api }) {
  switch (route.page) {
    case "approvals":
      return <Approvals api={api} />;
    case "conversations":
      return <Conversations api={api} />;
    case "replay":
      return <Replay api={api} conversationId={route.conversationId} />;
    case "escalations":
      return <Escalations api={api} />;
    case "webhooks":
      return <Webhooks api={api} />;
    case "dashboard":
      return (
        <Suspense fallback={<Loading what="the dashboard" />}>
          <Dashboard api={api} />
        </Suspense>
      );
    case "import":
      return <ImportWizard api={api} />;
  }
}

export function App() {
  const [api, setApi] = useState<Api | null>(() => {
    const token = savedToken();
    return token ? new Api(token) : null;
  });
  const route = useRoute();

  const signIn = useCallback((next: Api) => {
    saveToken(next.token);
    setApi(next);
  }, []);
  const signOut = useCallback(() => {
    saveToken(null);
    setApi(null);
  }, []);

  // A saved token the server no longer takes (rotated, console switched off): sign in again.
  useEffect(() => {
    if (!api) return;
    api.check().catch((error) => {
      if (error instanceof ApiFailure && (error.status === 401 || error.code === "operator_disabled")) signOut();
    });
  }, [api, signOut]);

  if (!api) return <SignIn onSignedIn={signIn} />;
  const current = route.page === "replay" ? "conversations" : route.page;
  return (
    <div className="console">
      <a className="skip" href="#main">
        Skip to the page
      </a>
      <header className="console-header">
        <strong className="console-brand">Smart Support · Console</strong>
        <nav aria-label="Console pages">
          {PAGES.map((p) => (
            <a key={p.page} href={p.href} aria-current={current === p.page ? "page" : undefined}>
              {p.label}
            </a>
          ))}
        </nav>
        <a className="console-chat" href="./">
          Customer chat
        </a>
        <button type="button" className="btn" onClick={signOut} data-testid="sign-out">
          Sign out
        </button>
      </header>
      <main id="main" className="console-main" tabIndex={-1}>
        <Page route={route} api={api} />
      </main>
    </div>
  );
}
