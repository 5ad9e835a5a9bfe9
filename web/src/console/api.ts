// The operator REST API as the console calls it. The token is kept in sessionStorage (this tab,
// this session only) and sent as `Authorization: Bearer`; it is never rendered.

import type {
  Analytics,
  ChangeIn,
  ConversationOut,
  ConversationSummary,
  DecisionOut,
  DeliveriesPage,
  DeliveryOut,
  EndpointEnabled,
  Escalations,
  EventPage,
  HandedBack,
  Held,
  ImportDraftHead,
  ImportDraftOut,
  ImportJobOut,
  OperatorApproval,
  Sent,
} from "./api-types";

const TOKEN_KEY = "smart-support.operator-token";

/** A failed call, with the server's `code` and a message a person can act on. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function savedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage off: the token lives in memory for this page only */
  }
}

/** The wording of a failure for the page (never a stack trace or a raw body). */
export function describe(error: unknown): string {
  if (error instanceof ApiFailure) return error.message;
  if (error instanceof TypeError) return "The server cannot be reached. Is it running?";
  return "Something went wrong. Try again.";
}

export type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) params.append(key, String(one));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export class Api {
  constructor(
    readonly token: string,
    private readonly base = "",
  ) {}

  async raw(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${this.token}`);
    if (init.body && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
    const response = await fetch(this.base + path, { ...init, headers });
    if (response.ok) return response;
    let code = "http_error";
    let message = `The server answered ${response.status}.`;
    try {
      const body = (await response.json()) as { code?: string; message?: string };
      code = body.code ?? code;
      message = body.message ?? message;
    } catch {
      /* not JSON */
    }
    if (response.status === 401) message = "The operator token was refused: check it and sign in again.";
    if (code === "operator_disabled")
      message = "The operator console is off: set OPERATOR_TOKEN in the server's environment and restart it.";
    throw new ApiFailure(response.status, code, message);
  }

  async get<T>(path: string, query: Query = {}): Promise<T> {
    return (await (await this.raw(path + queryString(query))).json()) as T;
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    const response = await this.raw(path, { method: "POST", body: JSON.stringify(body) });
    return (await response.json()) as T;
  }

  /** Whether the token opens the operator API (a 401 or `operator_disabled` throws). */
  async check(): Promise<void> {
    await this.get<OperatorApproval[]>("/api/v1/operator/approvals");
  }

  approvals(): Promise<OperatorApproval[]> {
    return this.get("/api/v1/operator/approvals");
  }

  decide(approvalId: string, decision: "approve" | "reject"): Promise<DecisionOut> {
    return this.post(`/api/v1/operator/approvals/${encodeURIComponent(approvalId)}/decision`, { decision });
  }

  conversations(query: Query): Promise<ConversationOut[]> {
    return this.get("/api/v1/operator/conversations", query);
  }

  events(conversationId: string, after: number, limit: number, kinds: string[] = []): Promise<EventPage> {
    return this.get(`/api/v1/operator/conversations/${encodeURIComponent(conversationId)}/events`, {
      after,
      limit,
      kind: kinds,
    });
  }

  summary(conversationId: string): Promise<ConversationSummary> {
    return this.get(`/api/v1/operator/conversations/${encodeURIComponent(conversationId)}/summary`);
  }

  analytics(since: string, until: string): Promise<Analytics> {
    return this.get("/api/v1/operator/analytics", { since, until });
  }

  /** The analytics CSV as a Blob (a plain link could not carry the token). */
  async analyticsCsv(since: string, until: string): Promise<Blob> {
    return (await this.raw("/api/v1/operator/analytics.csv" + queryString({ since, until }))).blob();
  }

  startImport(source: { url: string } | { document: string }, name?: string): Promise<ImportJobOut> {
    return this.post("/api/v1/operator/imports", { ...source, ...(name ? { name } : {}) });
  }

  job(jobId: string): Promise<ImportJobOut> {
    return this.get(`/api/v1/operator/import-jobs/${encodeURIComponent(jobId)}`);
  }

  drafts(): Promise<ImportDraftHead[]> {
    return this.get("/api/v1/operator/imports", { status: "draft" });
  }

  draft(importId: string): Promise<ImportDraftOut> {
    return this.get(`/api/v1/operator/imports/${encodeURIComponent(importId)}`);
  }

  change(importId: string, change: ChangeIn): Promise<ImportDraftOut> {
    return this.post(`/api/v1/operator/imports/${encodeURIComponent(importId)}/changes`, change);
  }

  accept(importId: string): Promise<ImportDraftOut> {
    return this.post(`/api/v1/operator/imports/${encodeURIComponent(importId)}/accept`);
  }

  discard(importId: string): Promise<ImportDraftOut> {
    return this.post(`/api/v1/operator/imports/${encodeURIComponent(importId)}/discard`);
  }

  escalations(): Promise<Escalations> {
    return this.get("/api/v1/operator/escalations");
  }

  takeOver(conversationId: string, name: string): Promise<Held> {
    return this.post(`/api/v1/operator/conversations/${encodeURIComponent(conversationId)}/takeover`, { name });
  }

  sayAsPerson(conversationId: string, text: string): Promise<Sent> {
    return this.post(`/api/v1/operator/conversations/${encodeURIComponent(conversationId)}/messages`, { text });
  }

  handBack(conversationId: string): Promise<HandedBack> {
    return this.post(`/api/v1/operator/conversations/${encodeURIComponent(conversationId)}/handback`);
  }

  deliveries(query: Query): Promise<DeliveriesPage> {
    return this.get("/api/v1/operator/webhooks/deliveries", query);
  }

  replayDelivery(deliveryId: string): Promise<DeliveryOut> {
    return this.post(`/api/v1/operator/webhooks/deliveries/${encodeURIComponent(deliveryId)}/replay`);
  }

  enableEndpoint(endpoint: string): Promise<EndpointEnabled> {
    return this.post("/api/v1/operator/webhooks/endpoints/enable", { endpoint });
  }
}
