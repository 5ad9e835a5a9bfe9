import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { Markdown, parseBlocks, safeHref } from "./markdown";

const html = (text: string) => renderToStaticMarkup(<Markdown text={text} />);

describe("the markdown subset", () => {
  it("escapes html in model text instead of rendering it", () => {
    const out = html('<img src=x onerror="alert(1)"> <script>alert(2)</script>');
    expect(out).not.toContain("<img");
    expect(out).not.toContain("<script");
    expect(out).toContain("&lt;script&gt;");
  });

  it("renders bold, inline code and lists", () => {
    const out = html("Order **1042** is `shipped`:\n- item one\n- item two");
    expect(out).toContain("<strong>1042</strong>");
    expect(out).toContain("<code>shipped</code>");
    expect(out).toContain("<ul><li>item one</li><li>item two</li></ul>");
  });

  it("opens links with rel noopener and refuses javascript urls", () => {
    const out = html("[docs](https://example.com/a) and [bad](javascript:alert(1))");
    expect(out).toContain('rel="noopener noreferrer nofollow"');
    expect(out).toContain('href="https://example.com/a"');
    expect(out).not.toContain("javascript:");
    expect(safeHref("javascript:alert(1)")).toBeNull();
  });

  it("never loads remote images", () => {
    const out = html("![logo](https://example.com/logo.png)");
    expect(out).not.toContain("<img");
    expect(out).toContain("[image: logo]");
  });

  it("keeps fenced code verbatim", () => {
    expect(parseBlocks("```\n**not bold**\n```")).toEqual([{ kind: "code", text: "**not bold**" }]);
  });
});
