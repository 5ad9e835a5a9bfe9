import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { type ChatState, fromTranscript, initialState, reduce } from "./chat";
import { Message } from "./Message";
import type { ServerFrame, TranscriptEntry } from "./protocol";

const C = "conv-1";

function run(frames: ServerFrame[], state: ChatState = initialState): ChatState {
  return frames.reduce((s, frame) => reduce(s, { type: "frame", frame }), state);
}

const taken: ServerFrame[] = [
  { type: "person_joined", conversation_id: C, name: "Sam" },
  { type: "person_message", conversation_id: C, name: "Sam", text: "Hi, Sam here. How can I help?" },
];

describe("a person in the conversation", () => {
  it("joins with a notice and writes as themselves, not as an agent", () => {
    const state = run(taken);
    expect(state.person).toBe("Sam");
    expect(state.items).toMatchObject([
      { kind: "notice", text: "Sam joined the conversation", tone: "info" },
      { kind: "person", name: "Sam", text: "Hi, Sam here. How can I help?" },
    ]);
    expect(state.items.some((it) => it.kind === "agent")).toBe(false);
  });

  it("does not leave the customer waiting for an agent while they hold the conversation", () => {
    const held = reduce(run(taken), { type: "sent", text: "My parcel never arrived" });
    expect(held.status).not.toBe("thinking");
    const accepted = run([{ type: "message_accepted", conversation_id: C, text: "My parcel never arrived", seq: 9 }], held);
    expect(accepted.status).toBe("ready");
    expect(accepted.items.at(-1)).toMatchObject({ kind: "customer", delivery: "sent" });
  });

  it("leaves with a notice, and the agents' turns wait for a reply again", () => {
    const left = run([{ type: "person_left", conversation_id: C, name: "Sam" }], run(taken));
    expect(left.person).toBeNull();
    expect(left.items.at(-1)).toMatchObject({ kind: "notice", text: "Sam left the conversation" });
    expect(reduce(left, { type: "sent", text: "thanks" }).status).toBe("thinking");
  });

  it("comes back after a reload from the transcript, still holding the conversation", () => {
    const at = "2026-12-01T10:00:00Z";
    const events: TranscriptEntry[] = [
      { seq: 1, kind: "customer_message", agent: null, data: { text: "I want a person" }, created_at: at, rating: null },
      { seq: 2, kind: "person_joined", agent: null, data: { name: "Sam" }, created_at: at, rating: null },
      { seq: 3, kind: "person_message", agent: null, data: { name: "Sam", text: "Hello!" }, created_at: at, rating: null },
    ];
    const { items, person } = fromTranscript(events, []);
    expect(person).toBe("Sam");
    expect(items.map((it) => it.kind)).toEqual(["customer", "notice", "person"]);
    const after = fromTranscript([...events, { seq: 4, kind: "person_left", agent: null, data: { name: "Sam" }, created_at: at, rating: null }], []);
    expect(after.person).toBeNull();
  });

  it("is shown with their name and the team, in a bubble of their own", () => {
    const html = renderToStaticMarkup(
      <Message
        item={{ kind: "person", id: "p1", name: "Sam", text: "Hello <b>there</b>" }}
        linkDomains={[]}
        connected
        onDecide={() => undefined}
        onRate={() => undefined}
      />,
    );
    expect(html).toContain('data-testid="message-person"');
    expect(html).toContain("Sam (support team)");
    expect(html).toContain("Hello &lt;b&gt;there&lt;/b&gt;"); // plain text, never markup
    expect(html).not.toContain("agent-name");
  });
});
