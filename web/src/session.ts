// Who the chat starts as, and how an embedding page hands over a signed identity (pure, tested
// with vitest). The server decides who the customer is: nothing here is trusted, the token's
// payload is only read to tell one visitor's saved conversation from another's.

/** A demo customer as `GET /api/v1/demo/customers` lists them (only with DEMO_IDENTITIES). */
export interface DemoCustomer {
  customer_id: string;
  name: string;
  email: string;
  orders: number[];
}

/** How a conversation starts: with a signed identity (a JWT) or anonymously. */
export interface Session {
  identity: string | null;
  /** Whose saved conversation this session may resume ("anonymous" or the token's subject). */
  who: string;
}

export const ANONYMOUS: Session = { identity: null, who: "anonymous" };

/** The subject of a JWT's payload (`sub`, else `email`), unverified: a storage key only. */
export function identitySubject(token: string): string | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "="));
    const claims = JSON.parse(json) as Record<string, unknown>;
    const subject = claims.sub ?? claims.email;
    return typeof subject === "string" || typeof subject === "number" ? String(subject) : null;
  } catch {
    return null;
  }
}

export function sessionFor(identity: string | null | undefined): Session {
  if (!identity) return ANONYMOUS;
  return { identity, who: `id:${identitySubject(identity) ?? identity}` };
}

/** One line of the picker: "maya.chen@example.com · orders 1042, 1077". */
export function customerLine(customer: DemoCustomer): string {
  const orders = customer.orders.length === 1 ? "order" : "orders";
  return customer.orders.length ? `${customer.email} · ${orders} ${customer.orders.join(", ")}` : customer.email;
}

/** Parse the picker's list defensively (a wrong answer means: no picker). */
export function parseCustomers(body: unknown): DemoCustomer[] | null {
  if (!Array.isArray(body)) return null;
  const customers = body.filter(
    (c): c is DemoCustomer =>
      typeof c === "object" &&
      c !== null &&
      typeof c.customer_id === "string" &&
      typeof c.name === "string" &&
      typeof c.email === "string" &&
      Array.isArray(c.orders) &&
      c.orders.every((o: unknown) => typeof o === "number"),
  );
  return customers.length ? customers : null;
}

// ---- the embed hand-over (postMessage between the host page's embed.js and this iframe) ----

export const READY = "smart-support:ready";
export const IDENTITY = "smart-support:identity";

function normalOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, "").toLowerCase();
}

export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  const o = normalOrigin(origin);
  return o !== "" && o !== "null" && allowed.some((a) => normalOrigin(a) === o);
}

/**
 * The identity carried by a message, if it is one this iframe accepts: sent by its own parent
 * window (not a sibling frame or an opener), from an origin in ALLOWED_ORIGINS, shaped as the
 * hand-over. `undefined` means "ignore the message"; `null` is a hand-over of "nobody signed in".
 */
export function acceptedIdentity(
  event: { origin: string; source: unknown; data: unknown },
  parent: unknown,
  self: unknown,
  allowed: readonly string[],
): string | null | undefined {
  if (parent === self || event.source !== parent) return undefined;
  if (!originAllowed(event.origin, allowed)) return undefined;
  const data = event.data as { type?: unknown; identity?: unknown } | null;
  if (!data || typeof data !== "object" || data.type !== IDENTITY) return undefined;
  if (data.identity === null || data.identity === undefined || data.identity === "") return null;
  if (typeof data.identity !== "string" || data.identity.length > 8192) return undefined;
  return data.identity;
}

/** The host page's origin from the iframe's address (`?embed=1&origin=...`), if allowed. */
export function hostOrigin(search: string, allowed: readonly string[]): string | null {
  const origin = new URLSearchParams(search).get("origin");
  return origin && originAllowed(origin, allowed) ? normalOrigin(origin) : null;
}
