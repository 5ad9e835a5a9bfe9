// A small, safe markdown subset rendered as React elements: paragraphs, bullet and numbered
// lists, fenced code, inline code, bold, italic and links. Model text never becomes HTML:
// everything is a text node or an element we create. Images are shown as links, never loaded.
//
// A reply is written in the agent's voice but may quote what a tool returned, or what someone
// typed into an order: `[Claim your refund](https://evil.example/login)` in a street name must
// not become a link the agent seems to offer. So a link is a link only when its host is one of
// the business's domains (LINK_DOMAINS, sent in the `conversation` frame, subdomains included);
// any other link is shown as the plain text it was written as.

import { Fragment, type ReactNode } from "react";

const SAFE_URL = /^(https?:\/\/|mailto:)/i;

export function safeHref(url: string): string | null {
  const trimmed = url.trim();
  return SAFE_URL.test(trimmed) ? trimmed : null;
}

function onDomain(host: string, domains: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return domains.some((d) => h === d || h.endsWith(`.${d}`));
}

// The href to render for `url`, or null when it must stay text: not http(s)/mailto, carrying
// credentials (`https://shop.example@evil.example`), or not on one of `domains`.
export function allowedHref(url: string, domains: readonly string[]): string | null {
  const href = safeHref(url);
  if (!href) return null;
  try {
    if (/^mailto:/i.test(href)) {
      const address = decodeURIComponent(href.slice(7).split("?")[0]);
      const at = address.lastIndexOf("@");
      return at > 0 && !address.includes(",") && onDomain(address.slice(at + 1), domains) ? href : null;
    }
    const parsed = new URL(href);
    if (parsed.username || parsed.password) return null;
    return onDomain(parsed.hostname, domains) ? parsed.href : null;
  } catch {
    return null;
  }
}

// Inline: `code`, **bold**, *italic* / _italic_, [text](url), ![alt](url).
const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(!?\[[^\]]*\]\([^)\s]+\))|(\*[^*\s][^*]*\*)|(_[^_\s][^_]*_)/;

export function renderInline(text: string, domains: readonly string[] = [], keyPrefix = "i"): ReactNode[] {
  const out: ReactNode[] = [];
  let rest = text;
  let n = 0;
  while (rest.length > 0) {
    const match = INLINE.exec(rest);
    if (!match) {
      out.push(rest);
      break;
    }
    if (match.index > 0) out.push(rest.slice(0, match.index));
    const token = match[0];
    const key = `${keyPrefix}-${n++}`;
    if (match[1]) {
      out.push(<code key={key}>{token.slice(1, -1)}</code>);
    } else if (match[2]) {
      out.push(<strong key={key}>{renderInline(token.slice(2, -2), domains, key)}</strong>);
    } else if (match[3]) {
      const isImage = token.startsWith("!");
      const body = isImage ? token.slice(1) : token;
      const close = body.indexOf("](");
      const label = body.slice(1, close);
      const href = allowedHref(body.slice(close + 2, -1), domains);
      if (href) {
        out.push(
          <a key={key} href={href} target="_blank" rel="noopener noreferrer nofollow">
            {isImage ? `[image: ${label || href}]` : label || href}
          </a>,
        );
      } else {
        out.push(token); // as written: the reader sees where it would have led
      }
    } else {
      out.push(<em key={key}>{token.slice(1, -1)}</em>);
    }
    rest = rest.slice(match.index + token.length);
  }
  return out;
}

type Block =
  | { kind: "p"; lines: string[] }
  | { kind: "ul"; items: string[] }
  | { kind: "ol"; items: string[] }
  | { kind: "code"; text: string };

export function parseBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trimStart().startsWith("```")) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith("```")) body.push(lines[i++]);
      i++;
      blocks.push({ kind: "code", text: body.join("\n") });
      continue;
    }
    const bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    const last = blocks[blocks.length - 1];
    if (bullet) {
      if (last?.kind === "ul") last.items.push(bullet[1]);
      else blocks.push({ kind: "ul", items: [bullet[1]] });
    } else if (numbered) {
      if (last?.kind === "ol") last.items.push(numbered[1]);
      else blocks.push({ kind: "ol", items: [numbered[1]] });
    } else if (line.trim() === "") {
      blocks.push({ kind: "p", lines: [] });
    } else if (last?.kind === "p" && last.lines.length > 0) {
      last.lines.push(line);
    } else {
      blocks.push({ kind: "p", lines: [line] });
    }
    i++;
  }
  return blocks.filter((b) => b.kind !== "p" || b.lines.length > 0);
}

export function Markdown({ text, linkDomains = [] }: { text: string; linkDomains?: readonly string[] }) {
  return (
    <>
      {parseBlocks(text).map((block, b) => {
        const key = `b${b}`;
        switch (block.kind) {
          case "code":
            return (
              <pre key={key}>
                <code>{block.text}</code>
              </pre>
            );
          case "ul":
            return (
              <ul key={key}>
                {block.items.map((item, j) => (
                  <li key={j}>{renderInline(item, linkDomains, `${key}-${j}`)}</li>
                ))}
              </ul>
            );
          case "ol":
            return (
              <ol key={key}>
                {block.items.map((item, j) => (
                  <li key={j}>{renderInline(item, linkDomains, `${key}-${j}`)}</li>
                ))}
              </ol>
            );
          default:
            return (
              <p key={key}>
                {block.lines.map((line, j) => (
                  <Fragment key={j}>
                    {j > 0 && <br />}
                    {renderInline(line, linkDomains, `${key}-${j}`)}
                  </Fragment>
                ))}
              </p>
            );
        }
      })}
    </>
  );
}
