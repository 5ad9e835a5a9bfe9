import type { ReactElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { ReplyFeedback } from "./Feedback";

const html = (rating: "up" | "down" | null, disabled = false) =>
  renderToStaticMarkup(<ReplyFeedback rating={rating} disabled={disabled} onRate={() => undefined} />);

function buttons(markup: string): string[] {
  return markup.match(/<button[^>]*>/g) ?? [];
}

describe("the thumbs under a reply", () => {
  it("are two labelled buttons, neither pressed before a rating", () => {
    const [up, down] = buttons(html(null));
    expect(up).toContain('aria-label="Helpful"');
    expect(down).toContain('aria-label="Not helpful"');
    for (const button of [up, down]) {
      expect(button).toContain('type="button"');
      expect(button).toContain('aria-pressed="false"');
      expect(button).not.toContain("tabindex"); // native buttons: reachable by keyboard
    }
    expect(html(null)).toContain('role="group"');
    expect(html(null)).not.toContain("Thanks");
  });

  it("press the recorded rating and thank the customer", () => {
    const [up, down] = buttons(html("down"));
    expect(up).toContain('aria-pressed="false"');
    expect(down).toContain('aria-pressed="true"');
    expect(html("down")).toContain("Thanks for your feedback");
  });

  it("keep their drawings out of what a screen reader says", () => {
    const svgs = html("up").match(/<svg[^>]*>/g) ?? [];
    expect(svgs).toHaveLength(2);
    expect(svgs.every((svg) => svg.includes('aria-hidden="true"'))).toBe(true);
  });

  it("are disabled while the chat is not connected", () => {
    expect(buttons(html(null, true)).every((b) => b.includes("disabled"))).toBe(true);
  });

  it("send the rating of the button pressed", () => {
    const sent: string[] = [];
    const tree = ReplyFeedback({ rating: null, onRate: (rating) => sent.push(rating) });
    const children = (tree.props as { children: unknown[] }).children;
    const choices = children[0] as ReactElement<{ onClick: () => void; "aria-label": string }>[];
    choices.find((b) => b.props["aria-label"] === "Not helpful")?.props.onClick();
    choices.find((b) => b.props["aria-label"] === "Helpful")?.props.onClick();
    expect(sent).toEqual(["down", "up"]);
  });
});
