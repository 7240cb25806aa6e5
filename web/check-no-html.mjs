// Fails when anything under web/src could turn a string into markup: every string a server sends
// is rendered as text through Preact's escaping (CVE-2025-58444 was server text reaching a console
// as HTML). Run: node web/check-no-html.mjs
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const srcDir = fileURLToPath(new URL('src', import.meta.url));
const forbidden = /dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write/;

const problems = [];
for (const entry of await readdir(srcDir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  // `parentPath` since Node 20.12, `path` before.
  const file = join(entry.parentPath ?? entry.path, entry.name);
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines.forEach((line, index) => {
    const match = forbidden.exec(line);
    if (match) problems.push(`${relative(process.cwd(), file)}:${index + 1}: ${match[0]}`);
  });
}

if (problems.length > 0) {
  console.error('Markup from strings is not allowed in web/src (render text through Preact instead):');
  for (const problem of problems) console.error(`  ${problem}`);
  process.exitCode = 1;
} else {
  console.log('web/src: no innerHTML or dangerouslySetInnerHTML.');
}
