#!/usr/bin/env node
/**
 * A headless "browser" for the demo authorization server's login page, used as PATCHBAY_BROWSER:
 * `login-browser.mjs <url>`. (test/fixtures/oauth/browser.mjs submits self-submitting forms only;
 * this page asks for a user name and password, as a person would type them.)
 *
 * It GETs the URL, follows redirects, keeps cookies per host, and on a page whose form has a
 * password field fills in the user name and password and presses the button named `decision`
 * with the value BROWSER_DECISION, then follows the redirect to the loopback `/callback`, which it
 * requests too (handing the code to the CLI's listener) before exiting 0.
 *
 * Loopback only: any other URL ends the run with exit code 3 before it is requested.
 *
 * Environment:
 *   DEMO_USERNAME, DEMO_PASSWORD  what to type (default demo / demo)
 *   BROWSER_DECISION              allow (default) or deny
 *   BROWSER_LOG=<file>            append each URL it was asked to open, one per line
 *   BROWSER_TIMEOUT_MS=<ms>       give up after this long (default 20000), exit 124
 *
 * Exit codes: 0 done; 2 usage, an HTTP error or an unexpected page; 3 a non-loopback URL; 124 timeout.
 */

import { appendFileSync } from 'node:fs';

const MAX_STEPS = 20;

const start = process.argv[2];
if (process.env.BROWSER_LOG && start !== undefined) appendFileSync(process.env.BROWSER_LOG, `${start}\n`);
if (!start) {
  process.stderr.write('usage: login-browser.mjs <url>\n');
  process.exit(2);
}

const timer = setTimeout(
  () => {
    process.stderr.write('login-browser: timed out\n');
    process.exit(124);
  },
  Number(process.env.BROWSER_TIMEOUT_MS ?? 20_000),
);
timer.unref();

const cookies = new Map(); // host → Map(name → value)

try {
  process.exitCode = await browse(start);
} catch (error) {
  process.stderr.write(`login-browser: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}

async function browse(url) {
  let next = { url, method: 'GET', body: undefined };
  for (let step = 0; step < MAX_STEPS; step++) {
    const target = loopback(next.url);
    if (!target) {
      process.stderr.write(`login-browser: refusing a URL that is not http on loopback: ${next.url}\n`);
      return 3;
    }
    const headers = { accept: 'text/html,application/json;q=0.9' };
    const jar = cookies.get(target.host);
    if (jar?.size) headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    if (next.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(target, {
      method: next.method,
      headers,
      body: next.body,
      redirect: 'manual',
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      if (!cookies.has(target.host)) cookies.set(target.host, new Map());
      cookies.get(target.host).set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    if (target.pathname.endsWith('/callback')) {
      await response.body?.cancel();
      return 0;
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      next = { url: new URL(location, target).href, method: 'GET', body: undefined };
      continue;
    }
    const html = await response.text();
    if (!response.ok) {
      process.stderr.write(`login-browser: HTTP ${response.status} from ${target.pathname}: ${text(html)}\n`);
      return 2;
    }
    const form = loginForm(html, target);
    if (!form) {
      process.stderr.write(`login-browser: no login form at ${target.pathname}: ${text(html)}\n`);
      return 2;
    }
    next = form;
  }
  process.stderr.write(`login-browser: more than ${MAX_STEPS} steps\n`);
  return 2;
}

function loopback(value) {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  return url.protocol === 'http:' && local && !url.username && !url.password ? url : undefined;
}

/** The one form with a password field, filled in as a person would, with the decision button pressed. */
function loginForm(html, base) {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
  if (forms.length !== 1) return undefined;
  const [, attributes, inner] = forms[0];
  if ((attribute(attributes, 'method') ?? 'get').toLowerCase() !== 'post') return undefined;
  const fields = new URLSearchParams();
  let password = false;
  for (const [, input] of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const name = attribute(input, 'name');
    if (!name) continue;
    const type = (attribute(input, 'type') ?? 'text').toLowerCase();
    if (type === 'password') {
      password = true;
      fields.append(name, process.env.DEMO_PASSWORD ?? 'demo');
    } else if (type === 'hidden') {
      fields.append(name, decode(attribute(input, 'value') ?? ''));
    } else {
      fields.append(name, process.env.DEMO_USERNAME ?? 'demo');
    }
  }
  if (!password) return undefined;
  fields.append('decision', process.env.BROWSER_DECISION ?? 'allow');
  const action = new URL(decode(attribute(attributes, 'action') ?? base.href), base).href;
  return { url: action, method: 'POST', body: fields.toString() };
}

function attribute(attributes, name) {
  const match = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attributes);
  return match ? (match[1] ?? match[2] ?? match[3]) : undefined;
}

function decode(value) {
  return value
    .replace(/&#(\d+);/g, (_, code) => String.fromCodePoint(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function text(html) {
  return html
    .replace(/<style[\s\S]*?<\/style>/gi, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}
