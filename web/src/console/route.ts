// The console's pages live in the URL's hash (`#/conversations/<id>`): the server serves one
// file at /console and a reload keeps the page.

export type Route =
  | { page: "approvals" }
  | { page: "conversations" }
  | { page: "replay"; conversationId: string }
  | { page: "escalations" }
  | { page: "webhooks" }
  | { page: "dashboard" }
  | { page: "import" };

export const PAGES: { page: Route["page"]; label: string; href: string }[] = [
  { page: "approvals", label: "Approvals", href: "#/approvals" },
  { page: "conversations", label: "Conversations", href: "#/conversations" },
  { page: "escalations", label: "Escalations", href: "#/escalations" },
  { page: "webhooks", label: "Webhooks", href: "#/webhooks" },
  { page: "dashboard", label: "Dashboard", href: "#/dashboard" },
  { page: "import", label: "Import", href: "#/import" },
];

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case "conversations":
      return parts[1] ? { page: "replay", conversationId: parts[1] } : { page: "conversations" };
    case "escalations":
      return { page: "escalations" };
    case "webhooks":
      return { page: "webhooks" };
    case "dashboard":
      return { page: "dashboard" };
    case "import":
      return { page: "import" };
    default:
      return { page: "approvals" };
  }
}

export function replayHref(conversationId: string): string {
  return `#/conversations/${encodeURIComponent(conversationId)}`;
}
