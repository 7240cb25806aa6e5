/**
 * The few pages a member's browser may see from the gateway's own authorization server: why a
 * sign-in was refused, and what to do next. Every text is escaped: part of it can come from the
 * identity provider's answer.
 */

import type { ServerResponse } from 'node:http';

export function page(res: ServerResponse, status: number, title: string, message: string): void {
  if (res.headersSent) return void res.destroy();
  const body = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>
`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'",
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}
