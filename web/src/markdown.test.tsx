import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { allowedHref, Markdown, parseBlocks, safeHref } from "./markdown";

const SHOP = ["shop.example"];
const html = (text: string, domains: string[] = SHOP) =>
  renderToStaticMarkup(<Markdown text={text} linkDomains={domains} />);

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

  it("opens links to the business's domains with rel noopener and refuses javascript urls", () => {
    const out = html("[docs](https://help.shop.example/a) and [bad](javascript:alert(1))");
    expect(out).toContain('rel="noopener noreferrer nofollow"');
    expect(out).toContain('href="https://help.shop.example/a"');
    expect(out).not.toContain('href="javascript:');
    expect(safeHref("javascript:alert(1)")).toBeNull();
  });

  it("shows a link from tool data to another site as plain text, not as a link", () => {
    const street = "[Claim your refund here](https://evil.example/login) 5 High St";
    const out = html(`Your order ships to ${street}.`);
    expect(out).not.toContain("<a");
    expect(out).toContain("[Claim your refund here](https://evil.example/login) 5 High St");
  });

  it("makes no links at all when no domain is configured", () => {
    expect(html("[shop](https://shop.example/)", [])).not.toContain("<a");
  });

  it("does not take a look-alike host, credentials or a foreign mail address for the shop", () => {
    for (const url of [
      "https://shop.example.evil.example/",
      "https://evilshop.example/",
      "https://shop.example@evil.example/",
      "https://user:pw@shop.example/",
      "mailto:help@evil.example",
      "mailto:help@shop.example,victim@evil.example",
    ]) {
      expect(allowedHref(url, SHOP), url).toBeNull();
    }
    expect(allowedHref("https://SHOP.example./returns", SHOP)).toBe("https://shop.example./returns");
    expect(allowedHref("mailto:help@shop.example", SHOP)).toBe("mailto:help@shop.example");
  });

  it("never loads remote images", () => {
    const out = html("![logo](https://shop.example/logo.png)");
    expect(out).not.toContain("<img");
    expect(out).toContain("[image: logo]");
  });

  it("keeps fenced code verbatim", () => {
    expect(parseBlocks("```\n**not bold**\n```")).toEqual([{ kind: "code", text: "**not bold**" }]);
  });
});
