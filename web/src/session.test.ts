import { describe, expect, it } from "vitest";

import {
  ANONYMOUS,
  IDENTITY,
  acceptedIdentity,
  customerLine,
  hostOrigin,
  identitySubject,
  parseCustomers,
  sessionFor,
} from "./session";

const SHOP = "http://127.0.0.1:8002";
const allowed = [SHOP, "https://shop.example"];
const parent = { name: "parent" };
const self = { name: "self" };
const sibling = { name: "sibling" };

function jwtOf(claims: object): string {
  const part = (o: object) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${part({ alg: "HS256" })}.${part(claims)}.signature`;
}

const token = jwtOf({ sub: "1", email: "maya.chen@example.com", name: "Maya Chen" });

describe("the identity hand-over from an embedding page", () => {
  const from = (origin: string, source: unknown, data: unknown = { type: IDENTITY, identity: token }) =>
    acceptedIdentity({ origin, source, data }, parent, self, allowed);

  it("takes the identity its parent page sends from an allowed origin", () => {
    expect(from(SHOP, parent)).toBe(token);
    expect(from("https://shop.example/", parent)).toBe(token);
    expect(from(SHOP, parent, { type: IDENTITY, identity: null })).toBeNull();
  });

  it("ignores the same message from an origin that is not allowed", () => {
    expect(from("http://127.0.0.1:9999", parent)).toBeUndefined();
    expect(from("https://shop.example.evil.test", parent)).toBeUndefined();
    expect(from("null", parent)).toBeUndefined();
  });

  it("ignores a sibling frame, an opener, and any window when the chat is not framed", () => {
    expect(from(SHOP, sibling)).toBeUndefined();
    expect(acceptedIdentity({ origin: SHOP, source: self, data: { type: IDENTITY, identity: token } }, self, self, allowed)).toBeUndefined();
  });

  it("ignores messages that are not a hand-over", () => {
    expect(from(SHOP, parent, "eyJ...")).toBeUndefined();
    expect(from(SHOP, parent, { type: "other", identity: token })).toBeUndefined();
    expect(from(SHOP, parent, { type: IDENTITY, identity: 42 })).toBeUndefined();
    expect(from(SHOP, parent, { type: IDENTITY, identity: "x".repeat(9000) })).toBeUndefined();
  });

  it("answers ready only to a host origin that is allowed", () => {
    expect(hostOrigin(`?embed=1&origin=${encodeURIComponent(SHOP)}`, allowed)).toBe(SHOP);
    expect(hostOrigin("?embed=1&origin=http%3A%2F%2Fevil.test", allowed)).toBeNull();
    expect(hostOrigin("?embed=1", allowed)).toBeNull();
  });
});

describe("sessions", () => {
  it("keys a signed session by the token's subject, so a new token of the same customer resumes", () => {
    expect(identitySubject(token)).toBe("1");
    expect(identitySubject(jwtOf({ email: "a@b.example" }))).toBe("a@b.example");
    expect(identitySubject("not a token")).toBeNull();
    const again = jwtOf({ sub: "1", exp: 2 });
    expect(sessionFor(again).who).toBe(sessionFor(token).who);
    expect(sessionFor(jwtOf({ sub: "3" })).who).not.toBe(sessionFor(token).who);
    expect(sessionFor(null)).toEqual(ANONYMOUS);
    expect(sessionFor(token).who).not.toBe(ANONYMOUS.who);
  });
});

describe("the demo picker", () => {
  const maya = { customer_id: "1", name: "Maya Chen", email: "maya.chen@example.com", orders: [1001, 1042] };

  it("shows each customer's email and order numbers", () => {
    expect(customerLine(maya)).toBe("maya.chen@example.com · orders 1001, 1042");
    expect(customerLine({ ...maya, orders: [1042] })).toBe("maya.chen@example.com · order 1042");
  });

  it("is offered only for a well-formed, non-empty list", () => {
    expect(parseCustomers([maya])).toEqual([maya]);
    expect(parseCustomers([])).toBeNull();
    expect(parseCustomers({ detail: "Not Found" })).toBeNull();
    expect(parseCustomers([{ ...maya, orders: ["1042"] }])).toBeNull();
  });
});
