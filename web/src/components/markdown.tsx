/**
 * Markdown from a server (its instructions, a text/markdown resource) as Preact elements, never as
 * HTML: `marked.lexer()` turns the text into tokens and each token becomes an element here, its
 * text a text node (Preact escapes it). So:
 *
 * - raw HTML in the markdown is shown as the text it is (`<script>` reads as `<script>`);
 * - a link is a link only to http(s) or mailto, opened in a new tab with rel="noopener
 *   noreferrer"; any other scheme (javascript:, data:, file:, a relative path) is plain text;
 * - an image is shown only from a data: URL of a raster type (as the console shows the images
 *   of tool results; the CSP allows nothing else); otherwise its alt text is shown. A shown image
 *   opens larger in a dialog when clicked.
 */

import type { ComponentChildren, JSX } from 'preact';
import { marked, type Token, type Tokens } from 'marked';

import { imageDataUrl } from '../lib/media';
import { ZoomableImage } from './lightbox';

const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);

/** The link target when it is one the console opens, else null (shown as text). */
export function safeLinkHref(href: string): string | null {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return null;
  }
  return LINK_SCHEMES.has(url.protocol) ? url.href : null;
}

/** An image source the page may load: a data: URL of an allowed raster type, else null. */
export function safeImageSrc(href: string): string | null {
  const match = /^data:([^;,]+);base64,([A-Za-z0-9+/]*={0,2})$/i.exec(href.trim());
  return match ? imageDataUrl(match[2], match[1]) : null;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Character references as the characters they stand for (the text stays text). */
function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

function inline(tokens: Token[] | undefined): ComponentChildren {
  return (tokens ?? []).map((token, index) => <InlineToken key={index} token={token} />);
}

function InlineToken({ token }: { token: Token }): JSX.Element | null {
  switch (token.type) {
    case 'text': {
      const text = token as Tokens.Text;
      return text.tokens ? <>{inline(text.tokens)}</> : <>{decodeEntities(text.text)}</>;
    }
    case 'escape':
      return <>{(token as Tokens.Escape).text}</>;
    case 'strong':
      return <strong>{inline((token as Tokens.Strong).tokens)}</strong>;
    case 'em':
      return <em>{inline((token as Tokens.Em).tokens)}</em>;
    case 'del':
      return <del>{inline((token as Tokens.Del).tokens)}</del>;
    case 'codespan':
      return <code>{(token as Tokens.Codespan).text}</code>;
    case 'br':
      return <br />;
    case 'link': {
      const link = token as Tokens.Link;
      const href = safeLinkHref(link.href);
      if (!href) return <span class="md-unlinked">{inline(link.tokens)}</span>;
      return (
        <a href={href} target="_blank" rel="noopener noreferrer" title={link.title ?? undefined}>
          {inline(link.tokens)}
        </a>
      );
    }
    case 'image': {
      const image = token as Tokens.Image;
      const src = safeImageSrc(image.href);
      if (!src) return <span class="md-image-missing">[{image.text || 'image'}]</span>;
      return <ZoomableImage src={src} alt={image.text} />;
    }
    case 'checkbox':
      return <input type="checkbox" disabled checked={(token as Tokens.Checkbox).checked} />;
    case 'html':
      // Raw HTML is shown as written: it is text, not markup.
      return <>{(token as Tokens.HTML).text}</>;
    default:
      return 'tokens' in token && Array.isArray(token.tokens) ? (
        <>{inline(token.tokens)}</>
      ) : (
        <>{'text' in token && typeof token.text === 'string' ? token.text : token.raw}</>
      );
  }
}

function Block({ token }: { token: Token }): JSX.Element | null {
  switch (token.type) {
    case 'space':
    case 'def':
      return null;
    case 'heading': {
      const heading = token as Tokens.Heading;
      // Inside a page that has its own h1/h2: a server's headings start at h3.
      const level = Math.min(6, heading.depth + 2);
      const Tag = `h${level}` as 'h3';
      return <Tag class="md-heading">{inline(heading.tokens)}</Tag>;
    }
    case 'paragraph':
      return <p>{inline((token as Tokens.Paragraph).tokens)}</p>;
    case 'text': {
      const text = token as Tokens.Text;
      return <p>{text.tokens ? inline(text.tokens) : decodeEntities(text.text)}</p>;
    }
    case 'code':
      return (
        <pre class="code-block">
          <code>{(token as Tokens.Code).text}</code>
        </pre>
      );
    case 'blockquote':
      return <blockquote>{blocks((token as Tokens.Blockquote).tokens)}</blockquote>;
    case 'hr':
      return <hr />;
    case 'list': {
      const list = token as Tokens.List;
      const items = list.items.map((item, index) => (
        <li key={index}>{item.loose ? blocks(item.tokens) : inlineItem(item.tokens)}</li>
      ));
      return list.ordered ? (
        <ol start={typeof list.start === 'number' ? list.start : undefined}>{items}</ol>
      ) : (
        <ul>{items}</ul>
      );
    }
    case 'table': {
      const table = token as Tokens.Table;
      const align = (value: string | null) => (value ? `md-align-${value}` : undefined);
      return (
        <div class="md-table-wrap">
          <table class="md-table">
            <thead>
              <tr>
                {table.header.map((cell, index) => (
                  <th key={index} class={align(cell.align)}>
                    {inline(cell.tokens)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.map((row, rowIndex) => (
                <tr key={rowIndex}>
                  {row.map((cell, index) => (
                    <td key={index} class={align(cell.align)}>
                      {inline(cell.tokens)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    }
    case 'html':
      return <pre class="md-raw-html">{(token as Tokens.HTML).text}</pre>;
    default:
      return <p>{'tokens' in token && Array.isArray(token.tokens) ? inline(token.tokens) : token.raw}</p>;
  }
}

/** A tight list item's tokens: its text inline, nested lists as blocks. */
function inlineItem(tokens: Token[]): ComponentChildren {
  return tokens.map((token, index) =>
    token.type === 'text' || token.type === 'checkbox' ? (
      <InlineToken key={index} token={token} />
    ) : (
      <Block key={index} token={token} />
    ),
  );
}

function blocks(tokens: Token[]): ComponentChildren {
  return tokens.map((token, index) => <Block key={index} token={token} />);
}

export function Markdown({ text, testid }: { text: string; testid?: string }) {
  let tokens: Token[];
  try {
    tokens = marked.lexer(text, { gfm: true });
  } catch {
    return <pre class="text-block">{text}</pre>;
  }
  return (
    <div class="markdown" data-testid={testid}>
      {blocks(tokens)}
    </div>
  );
}

/** Whether a resource's type says markdown. */
export function isMarkdown(mimeType: string | null, uri?: string): boolean {
  const type = mimeType?.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'text/markdown' || type === 'text/x-markdown') return true;
  return !type && uri !== undefined && /\.(md|markdown)$/i.test(uri.split(/[?#]/, 1)[0]!);
}
