/**
 * The pages of the demo's authorization server that a person sees: the login page (one user,
 * whose password is printed on it; Allow or Deny) and the page that says a login cannot go on.
 * No script at all, one style element allowed by its hash (CSP), every string a client sent
 * escaped before it is on the page.
 */

import { createHash } from 'node:crypto';

/** The one user of the demo. The password is shown on the login page: this is a demo. */
export const DEMO_USER = { username: 'demo', password: 'demo', displayName: 'Demo user' } as const;

/** Everything a client supplied (its name above all) passes through here before it is on the page. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #f5f5f7; --card: #fff; --muted: #5f6368; --accent: #0b57d0; --line: #d0d4da; --bad: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8eaed; --bg: #151618; --card: #212226; --muted: #a4a9b1; --accent: #8ab4f8; --line: #3c4043; --bad: #f2b8b5; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 28rem; margin: 3rem auto; padding: 1.5rem; background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
h1 { font-size: 1.35rem; margin: 0 0 0.75rem; }
p, dl { margin: 0 0 1rem; }
dt { color: var(--muted); font-size: 0.875rem; }
dd { margin: 0 0 0.5rem; overflow-wrap: anywhere; }
code { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.hint { padding: 0.75rem; border: 1px dashed var(--line); border-radius: 8px; }
.problem { color: var(--bad); font-weight: 600; }
label { display: block; margin: 0.75rem 0 0.25rem; font-weight: 600; }
input { width: 100%; padding: 0.5rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--line); border-radius: 6px; }
input:focus-visible, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.actions { display: flex; gap: 0.75rem; margin-top: 1.25rem; }
button { padding: 0.5rem 1.25rem; font: inherit; border-radius: 6px; border: 1px solid var(--accent); cursor: pointer; }
button[value="allow"] { background: var(--accent); color: var(--card); }
button[value="deny"] { background: transparent; color: var(--accent); }
`;

/** CSP 3 §8.3: a hash lets this one style element in, and nothing else. */
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

export interface LoginPageView {
  /** Where the form posts: the interaction's own URL path. */
  action: string;
  clientName: string;
  /** Where the browser goes afterwards (origin only). */
  redirectTo: string;
  resource: string;
  scopes: Array<{ name: string; meaning: string }>;
  problem?: string;
}

export function renderLoginPage(view: LoginPageView): string {
  const e = escapeHtml;
  const scopes = view.scopes
    .map(({ name, meaning }) => `<dd><code>${e(name)}</code>${meaning ? `: ${e(meaning)}` : ''}</dd>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Log in: patchbay demo</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Log in to the patchbay demo server</h1>
<p><strong>${e(view.clientName)}</strong> asks to use the demo MCP server as you.</p>
<dl>
<dt>Server</dt><dd><code>${e(view.resource)}</code></dd>
<dt>Permissions</dt>${scopes}
<dt>Afterwards, your browser goes back to</dt><dd><code>${e(view.redirectTo)}</code></dd>
</dl>
<p class="hint">This is the demo's own authorization server, running on this computer.
${e(DEMO_USER.displayName)}: user name <code>${e(DEMO_USER.username)}</code>, password <code>${e(DEMO_USER.password)}</code>.</p>
${view.problem ? `<p class="problem" role="alert">${e(view.problem)}</p>` : ''}
<form method="post" action="${e(view.action)}">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required value="${e(DEMO_USER.username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>
</main>
</body>
</html>
`;
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** The headers of every page: `formAction` is where a form on it may post and be redirected to. */
export function pageHeaders(formAction = "'none'"): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    // No script at all; the one style element by hash; the form may post here and go to the client.
    'content-security-policy': [
      "default-src 'none'",
      `style-src ${STYLE_HASH}`,
      `form-action ${formAction}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...NO_STORE,
  };
}

export function renderErrorPage(message: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Login failed: patchbay demo</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>This login cannot go on</h1>
<p class="problem" role="alert">${escapeHtml(message)}</p>
</main>
</body>
</html>
`;
}
