import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseExportOptions, runExport, type ExportOptions } from '../../src/cli/commands/export.js';
import { parseImportOptions, runImport, type ImportOptions } from '../../src/cli/commands/import.js';
import { applyExport, planExport } from '../../src/config/hosts/export-plan.js';
import { HOSTS } from '../../src/config/hosts/index.js';
import { applyImport, planImport } from '../../src/config/hosts/import-plan.js';
import { addServer, createContext, loadRegistry } from '../../src/config/registry.js';
import { parseJsonSource } from '../../src/core/json-source.js';
import { PatchbayError } from '../../src/errors.js';
import { makeSandbox, type Sandbox } from '../config/hosts/helpers.js';

let box: Sandbox;

beforeEach(async () => {
  box = await makeSandbox();
});

afterEach(async () => {
  await box.cleanup();
});

const paths = {
  claudeCode: () => join(box.home, '.claude.json'),
  desktop: () => join(box.home, '.config', 'Claude', 'claude_desktop_config.json'),
  cursorUser: () => join(box.home, '.cursor', 'mcp.json'),
  cursorProject: () => join(box.project, '.cursor', 'mcp.json'),
  vscodeUser: () => join(box.home, '.config', 'Code', 'User', 'mcp.json'),
  vscodeWorkspace: () => join(box.project, '.vscode', 'mcp.json'),
  patchbay: () => join(box.configDir, 'config.json'),
};

interface Report {
  source?: { host: string; files: Array<{ path: string; scope: string; exists: boolean; servers: number }> };
  target?: {
    host?: string;
    scope?: string;
    file?: string;
    files?: Array<{ path: string; exists: boolean; hadComments: boolean }>;
  };
  dryRun: boolean;
  taken: Array<{
    name: string;
    sourceName?: string;
    from: string;
    to: string;
    action: string;
    notes: string[];
    entry: Record<string, unknown>;
  }>;
  skipped: Array<{ name: string; from?: string; reason: string; failed?: boolean }>;
  warnings?: string[];
}

async function importJson(
  flags: Parameters<typeof parseImportOptions>[0],
): Promise<{ code: number; report: Report; stderr: string }> {
  const io = box.io();
  const options: ImportOptions = { ...parseImportOptions({ ...flags, json: true }), platform: 'linux' };
  const code = await runImport(options, io);
  return { code, report: JSON.parse(io.out()) as Report, stderr: io.err() };
}

async function exportJson(
  flags: Parameters<typeof parseExportOptions>[0],
): Promise<{ code: number; report: Report; stderr: string }> {
  const io = box.io();
  const options: ExportOptions = { ...parseExportOptions({ ...flags, json: true }), platform: 'linux' };
  const code = await runExport(options, io);
  return { code, report: JSON.parse(io.out()) as Report, stderr: io.err() };
}

function byName<T extends { name: string }>(items: T[]): Record<string, T> {
  return Object.fromEntries(items.map((item) => [item.name, item]));
}

/** A second home, so an export lands in fresh host files. */
async function freshHome(): Promise<void> {
  box.env.HOME = join(box.root, 'home2');
  await mkdir(box.env.HOME, { recursive: true });
}

async function patchbayServers(): Promise<Record<string, { scope: string; raw: unknown }>> {
  const registry = await loadRegistry(createContext(box.env, box.project));
  return Object.fromEntries(
    registry.entries.map((entry) => [
      entry.name,
      { scope: entry.scope, raw: JSON.parse(JSON.stringify(entry.raw)) },
    ]),
  );
}

describe('option parsing', () => {
  it('defaults to the local scope and no dry run', () => {
    expect(parseImportOptions({ from: 'cursor' })).toEqual({
      host: 'cursor',
      scope: 'local',
      dryRun: false,
      force: false,
      json: false,
    });
    expect(parseExportOptions({ to: 'vscode', scope: 'project', dryRun: true })).toEqual({
      host: 'vscode',
      scope: 'project',
      dryRun: true,
      force: false,
      json: false,
    });
    expect(parseExportOptions({ to: 'cursor' }).scope).toBeUndefined();
  });

  it('rejects unknown hosts and scopes as usage errors listing the valid ones', () => {
    expect(() => parseImportOptions({ from: 'windsurf' })).toThrow(
      /expected one of claude-code, claude-desktop, cursor, vscode/,
    );
    expect(() => parseExportOptions({})).toThrow(/Missing --to/);
    try {
      parseImportOptions({ from: 'cursor', scope: 'global' });
      expect.unreachable();
    } catch (error) {
      expect((error as PatchbayError).exitCode).toBe(2);
    }
  });
});

describe('patchbay import', () => {
  it('imports Claude Code user and local entries; .mcp.json ones are patchbay’s already', async () => {
    await box.install('claude-code/claude.json', paths.claudeCode());
    await box.put(
      join(box.project, '.mcp.json'),
      '{ "mcpServers": { "team-docs": { "type": "http", "url": "https://docs.example.com/mcp" } } }\n',
    );

    const { code, report } = await importJson({ from: 'claude-code' });
    expect(code).toBe(0);
    expect(report.source!.files.map((file) => [file.scope, file.servers])).toEqual([
      ['local', 2],
      ['project', 1],
      ['user', 5],
    ]);
    const taken = byName(report.taken);
    expect(Object.keys(taken).sort()).toEqual([
      'context7',
      'github',
      'internal-api',
      'linear',
      'postgres',
      'sentry',
    ]);
    expect(taken.postgres!.from).toBe(paths.claudeCode());
    expect(taken.postgres!.action).toBe('add');
    // Secrets are masked in the report; references stay readable.
    expect(taken['internal-api']!.entry.headers).toEqual({ 'X-Api-Key': '****' });
    expect(taken.github!.entry.headers).toEqual({ Authorization: 'Bearer ${GITHUB_PAT}' });
    const skipped = byName(report.skipped);
    expect(skipped['team-docs']!.reason).toMatch(/\.mcp\.json, which patchbay already reads/);
    expect(skipped.postgres!.reason).toMatch(/uses the local entry of the same name/);
    expect(JSON.stringify(report)).not.toContain('sk-live');

    const servers = await patchbayServers();
    expect(servers['internal-api']).toEqual({
      scope: 'local',
      raw: {
        type: 'http',
        url: 'https://mcp.internal.example.com/mcp',
        headers: { 'X-Api-Key': 'sk-live-4f9a8b7c6d5e' },
        timeout: 20000,
      },
    });
    expect((servers.postgres!.raw as { args: string[] }).args).toContain('postgresql://localhost/shop_dev');
    expect(servers['other-only']).toBeUndefined();
    expect((await stat(paths.patchbay())).mode & 0o777).toBe(0o600);
  });

  it('writes nothing on --dry-run', async () => {
    await box.install('cursor/user-mcp.json', paths.cursorUser());
    const { code, report } = await importJson({ from: 'cursor', dryRun: true });
    expect(code).toBe(0);
    expect(report.dryRun).toBe(true);
    expect(report.taken.length).toBeGreaterThan(0);
    await expect(stat(paths.patchbay())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports identical entries as already present and differing ones as skipped unless --force', async () => {
    await box.install('claude-desktop/claude_desktop_config.json', paths.desktop());
    expect((await importJson({ from: 'claude-desktop', scope: 'user' })).code).toBe(0);

    const again = await importJson({ from: 'claude-desktop', scope: 'user' });
    expect(again.report.taken.map((item) => item.action)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);

    const context = createContext(box.env, box.project);
    await addServer(
      context,
      'user',
      'sqlite',
      { type: 'stdio', command: 'sqlite-mcp', args: [], env: {} },
      { force: true },
    );
    const clash = await importJson({ from: 'claude-desktop', scope: 'user' });
    expect(clash.code).toBe(0);
    expect(byName(clash.report.skipped).sqlite!.reason).toMatch(
      /already has a different server named "sqlite".*--force/,
    );
    expect((await patchbayServers()).sqlite!.raw).toMatchObject({ command: 'sqlite-mcp' });

    const forced = await importJson({ from: 'claude-desktop', scope: 'user', force: true });
    expect(byName(forced.report.taken).sqlite!.action).toBe('replace');
    expect((await patchbayServers()).sqlite!.raw).toMatchObject({ command: 'uvx' });
  });

  it('says there is nothing to import when the host has no file, naming where it looked', async () => {
    const io = box.io();
    const code = await runImport({ ...parseImportOptions({ from: 'cursor' }), platform: 'linux' }, io);
    expect(code).toBe(0);
    expect(io.out()).toContain(
      `Nothing to import: no Cursor configuration at ${paths.cursorProject()} or ${paths.cursorUser()}.`,
    );
    await expect(stat(paths.patchbay())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a broken host file with file:line:col and leaves it alone', async () => {
    const broken = '{\n  "mcpServers": {\n    "x": { "command": "npx" \n  }\n}\n';
    await box.put(paths.cursorUser(), broken);
    const error = await runImport(
      { ...parseImportOptions({ from: 'cursor' }), platform: 'linux' },
      box.io(),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PatchbayError);
    expect((error as PatchbayError).code).toBe('config-parse');
    expect((error as PatchbayError).message).toContain(
      `${paths.cursorUser()}:6:1: expected ',' or '}' but found the end of the file`,
    );
    expect(await box.read(paths.cursorUser())).toBe(broken);
    await expect(stat(paths.patchbay())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('prints a human report with notes and reasons', async () => {
    await box.install('vscode/workspace-mcp.json', paths.vscodeWorkspace());
    const io = box.io();
    const code = await runImport({ ...parseImportOptions({ from: 'vscode' }), platform: 'linux' }, io);
    expect(code).toBe(0);
    const out = io.out();
    expect(out).toContain(`Import from VS Code into patchbay's local scope (${paths.patchbay()})`);
    expect(out).toMatch(/Added \(4\):\n {2}\+ github-local {2}stdio {2}docker run -i --rm/);
    expect(out).toContain('note: set GITHUB_TOKEN in your environment');
    expect(out).toMatch(/Skipped \(2\):\n {2}- secrets: loads variables from envFile/);
    expect(io.err()).toContain('patchbay list');
  });

  it('imports workspace-relative servers into the local scope only', async () => {
    await box.install('cursor/project-mcp.json', paths.cursorProject());
    const { report } = await importJson({ from: 'cursor', scope: 'user' });
    expect(byName(report.skipped)['repo-tools']!.reason).toMatch(/\$\{workspaceFolder\}.*-s local/);
    expect(byName(report.taken).github).toBeDefined();
  });

  it('handles a server named __proto__ as an ordinary name', async () => {
    await box.put(
      paths.cursorUser(),
      '{ "mcpServers": { "__proto__": { "command": "node", "args": ["proto.js"] }, "constructor": { "url": "https://c.example/mcp" } } }',
    );
    const { report } = await importJson({ from: 'cursor' });
    expect(report.taken.map((item) => item.name).sort()).toEqual(['__proto__', 'constructor']);
    const servers = await patchbayServers();
    expect(servers.__proto__).toEqual({
      scope: 'local',
      raw: { type: 'stdio', command: 'node', args: ['proto.js'] },
    });
    expect(({} as Record<string, unknown>).command).toBeUndefined();

    await freshHome();
    const exported = await exportJson({ to: 'vscode' });
    expect(exported.code).toBe(0);
    // Imported into the local scope, it goes back to the workspace's file.
    const written = (await box.readJson(paths.vscodeWorkspace())).servers as Record<string, unknown>;
    expect(Object.prototype.hasOwnProperty.call(written, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(written, '__proto__')!.value).toEqual({
      type: 'stdio',
      command: 'node',
      args: ['proto.js'],
    });
  });

  it('renames a server whose name patchbay cannot use, and says so', async () => {
    await box.put(
      paths.cursorUser(),
      '{ "mcpServers": { "Zuplo MCP": { "url": "https://z.example/mcp" } } }',
    );
    const { report } = await importJson({ from: 'cursor' });
    expect(report.taken[0]).toMatchObject({
      name: 'Zuplo-MCP',
      sourceName: 'Zuplo MCP',
      notes: [expect.stringContaining('imported as "Zuplo-MCP"')],
    });
  });

  it('reports a failed write per server', async () => {
    await box.install('claude-desktop/claude_desktop_config.json', paths.desktop());
    const context = createContext(box.env, box.project);
    const plan = await planImport(context, HOSTS['claude-desktop'], {
      scope: 'user',
      force: false,
      platform: 'linux',
    });
    // The config file turns into something patchbay cannot write between plan and apply.
    await mkdir(paths.patchbay(), { recursive: true });
    const result = await applyImport(context, plan);
    expect(result.taken).toEqual([]);
    expect(result.failed.map((item) => item.name)).toEqual([
      'filesystem',
      'github',
      'sqlite',
      'brave-search',
    ]);
    expect(result.failed[0]!.reason).toMatch(/^not written: /);
  });
});

describe('patchbay export', () => {
  async function seedPatchbay(): Promise<void> {
    const context = createContext(box.env, box.project);
    await addServer(context, 'user', 'github', {
      type: 'http',
      url: 'https://api.githubcopilot.com/mcp/',
      headers: { Authorization: 'Bearer ${GITHUB_PAT}' },
    });
    await addServer(context, 'user', 'fetch', {
      type: 'stdio',
      command: 'uvx',
      args: ['mcp-server-fetch'],
      env: {},
    });
    await addServer(context, 'local', 'shop-db', {
      type: 'stdio',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-postgres', 'postgresql://shop:hunter2@localhost/shop'],
      env: {},
    });
    await addServer(context, 'project', 'team-docs', {
      type: 'sse',
      url: 'https://docs.example.com/sse',
      headers: { 'X-Team-Key': 'team-secret-1' },
    });
    // Added to .mcp.json by a teammate: not approved here.
    const mcpJson = (await box.readJson(join(box.project, '.mcp.json'))) as {
      mcpServers: Record<string, unknown>;
    };
    mcpJson.mcpServers['unreviewed'] = { type: 'http', url: 'https://unknown.example.com/mcp' };
    await writeFile(join(box.project, '.mcp.json'), JSON.stringify(mcpJson, null, 2));
  }

  it('writes user entries to the user file, local and project entries to the project file', async () => {
    await seedPatchbay();
    const { code, report } = await exportJson({ to: 'cursor' });
    expect(code).toBe(0);
    const taken = byName(report.taken);
    // A local server is for this project only: Cursor's file for this project, with a note.
    expect(taken['shop-db']!.to).toBe(paths.cursorProject());
    expect(taken['shop-db']!.notes).toEqual([expect.stringContaining('keep it out of version control')]);
    expect(taken.github!.to).toBe(paths.cursorUser());
    expect(taken['team-docs']!.to).toBe(paths.cursorProject());
    expect(taken['shop-db']!.entry.args).toContain('postgresql://shop:****@localhost/shop');
    expect(taken['team-docs']!.entry.headers).toEqual({ 'X-Team-Key': '****' });
    expect(byName(report.skipped).unreviewed!.reason).toMatch(
      /not yet approved.*patchbay approve unreviewed/,
    );

    const user = await box.readJson(paths.cursorUser());
    expect(user).toEqual({
      mcpServers: {
        github: {
          url: 'https://api.githubcopilot.com/mcp/',
          headers: { Authorization: 'Bearer ${env:GITHUB_PAT}' },
        },
        fetch: { command: 'uvx', args: ['mcp-server-fetch'] },
      },
    });
    expect(await box.readJson(paths.cursorProject())).toEqual({
      mcpServers: {
        'shop-db': {
          command: 'npx',
          args: ['-y', '@modelcontextprotocol/server-postgres', 'postgresql://shop:hunter2@localhost/shop'],
        },
        'team-docs': {
          type: 'sse',
          url: 'https://docs.example.com/sse',
          headers: { 'X-Team-Key': 'team-secret-1' },
        },
      },
    });
    // Created host files hold secrets: owner-only.
    expect((await stat(paths.cursorUser())).mode & 0o777).toBe(0o600);
    expect((await stat(paths.cursorProject())).mode & 0o777).toBe(0o600);
  });

  it('exports only one scope with -s', async () => {
    await seedPatchbay();
    const { report } = await exportJson({ to: 'vscode', scope: 'user' });
    expect(report.taken.map((item) => item.name)).toEqual(['github', 'fetch']);
    await expect(stat(paths.vscodeWorkspace())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes nothing on --dry-run', async () => {
    await seedPatchbay();
    await box.install('vscode/user-mcp.json', paths.vscodeUser());
    const before = await box.read(paths.vscodeUser());
    const { code, report } = await exportJson({ to: 'vscode', dryRun: true });
    expect(code).toBe(0);
    expect(report.taken.length).toBeGreaterThan(0);
    // Comments are kept, the file's mode too (0644 from the fixture's copy), so nothing to warn of
    // for this file, which receives no credential in the clear.
    expect(report.warnings).toEqual([]);
    expect(await box.read(paths.vscodeUser())).toBe(before);
    await expect(stat(paths.vscodeWorkspace())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps other servers, inputs and unknown keys of the target; differing entries need --force', async () => {
    await seedPatchbay();
    await box.install('vscode/user-mcp.json', paths.vscodeUser());
    const { code, report, stderr } = await exportJson({ to: 'vscode' });
    expect(code).toBe(0);
    // The file already had a different "github"; the fixture's "fetch" is the same server.
    expect(byName(report.skipped).github!.reason).toMatch(
      /already has a different server named "github".*--force/,
    );
    expect(byName(report.taken).fetch!.action).toBe('unchanged');
    expect(report.warnings).toEqual([]);
    expect(stderr).toBe('');
    expect(await box.read(paths.vscodeUser())).toContain('// Web search through Perplexity');

    // The file keeps its comments, so it is read as the JSONC it is.
    const readJsonc = async (path: string) =>
      parseJsonSource(await box.read(path), { jsonc: true, fileLabel: path }).value as {
        servers: Record<string, unknown>;
        inputs: unknown[];
      };
    const written = await readJsonc(paths.vscodeUser());
    expect(Object.keys(written.servers)).toEqual(['github', 'perplexity', 'fetch', 'microsoft-docs']);
    expect(Object.keys((await readJsonc(paths.vscodeWorkspace())).servers)).toEqual(['shop-db', 'team-docs']);
    expect(written.servers['microsoft-docs']).toEqual({
      type: 'http',
      url: 'https://learn.microsoft.com/api/mcp',
      gallery: true,
    });
    expect(written.servers.github).toEqual({ type: 'http', url: 'https://api.githubcopilot.com/mcp/' });
    expect(written.inputs).toHaveLength(1);
    // The file's tab indentation is kept.
    expect(await box.read(paths.vscodeUser())).toMatch(/^\{\n\t"servers": \{\n\t\t"github"/);

    const forced = await exportJson({ to: 'vscode', force: true });
    expect(byName(forced.report.taken).github!.action).toBe('replace');
    expect((await readJsonc(paths.vscodeUser())).servers.github).toEqual({
      type: 'http',
      url: 'https://api.githubcopilot.com/mcp/',
      headers: { Authorization: 'Bearer ${env:GITHUB_PAT}' },
    });
  });

  it('merges into ~/.claude.json: user at the top, local under the project, the rest untouched', async () => {
    await seedPatchbay();
    await box.install('claude-code/claude.json', paths.claudeCode());
    const { code, report } = await exportJson({ to: 'claude-code', force: true });
    expect(code).toBe(0);
    expect(byName(report.skipped)['team-docs']!.reason).toMatch(/Claude Code reads itself/);
    const written = (await box.readJson(paths.claudeCode())) as Record<string, unknown> & {
      mcpServers: Record<string, unknown>;
      projects: Record<string, { mcpServers: Record<string, unknown>; allowedTools: string[] }>;
    };
    expect(written.numStartups).toBe(214);
    expect(written.oauthAccount).toMatchObject({ emailAddress: 'dev@example.com' });
    expect(written.mcpServers.github).toEqual({
      type: 'http',
      url: 'https://api.githubcopilot.com/mcp/',
      headers: { Authorization: 'Bearer ${GITHUB_PAT}' },
    });
    expect(Object.keys(written.mcpServers)).toEqual([
      'sentry',
      'linear',
      'github',
      'context7',
      'postgres',
      'fetch',
    ]);
    expect(written.projects[box.project]!.mcpServers['shop-db']).toMatchObject({ command: 'npx' });
    expect(written.projects[box.project]!.allowedTools).toEqual(['Bash(npm test:*)']);
    expect(written.projects['/home/dev/src/other-project']!.mcpServers).toHaveProperty('other-only');
  });

  it('honours CLAUDE_CONFIG_DIR', async () => {
    await seedPatchbay();
    box.env.CLAUDE_CONFIG_DIR = join(box.root, 'claude-dir');
    const { report } = await exportJson({ to: 'claude-code', scope: 'user' });
    expect(report.target!.files!.map((file) => file.path)).toEqual([
      join(box.root, 'claude-dir', '.claude.json'),
    ]);
  });

  it('skips remote servers for Claude Desktop with the Connector advice', async () => {
    await seedPatchbay();
    const { report } = await exportJson({ to: 'claude-desktop' });
    expect(report.taken.map((item) => item.name)).toEqual(['shop-db', 'fetch']);
    expect(byName(report.skipped).github!.reason).toMatch(
      /takes only local commands.*add this remote server in Claude Desktop as a custom Connector/,
    );
  });

  it('refuses a broken target file with file:line:col and never rewrites it', async () => {
    await seedPatchbay();
    const broken =
      '{\n  // my servers\n  "mcpServers": {\n    "a": { "url": "https://a.example/mcp" },,\n  }\n}\n';
    await box.put(paths.cursorUser(), broken);
    const error = await runExport(
      { ...parseExportOptions({ to: 'cursor' }), platform: 'linux' },
      box.io(),
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PatchbayError);
    expect((error as PatchbayError).message).toContain(
      `${paths.cursorUser()}:4:45: expected a property name in double quotes but found ','`,
    );
    expect((error as PatchbayError).message).toContain('Nothing was written');
    expect(await box.read(paths.cursorUser())).toBe(broken);
    await expect(stat(paths.cursorProject())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a target file whose servers key is not an object', async () => {
    await seedPatchbay();
    await box.put(paths.vscodeUser(), '{\n  "servers": []\n}\n');
    await expect(
      runExport({ ...parseExportOptions({ to: 'vscode' }), platform: 'linux' }, box.io()),
    ).rejects.toThrow(/mcp\.json:2:14: servers: expected a JSON object/);
  });

  it('reports a failed write and keeps going with the other file', async () => {
    await seedPatchbay();
    const context = createContext(box.env, box.project);
    const options = { force: false, platform: 'linux' as const };
    const plan = await planExport(context, HOSTS.cursor, options);
    await mkdir(paths.cursorUser(), { recursive: true });
    const result = await applyExport(context, plan, options);
    expect(result.failed.map((item) => item.name)).toEqual(['github', 'fetch']);
    expect(result.taken.map((item) => item.name)).toEqual(['shop-db', 'team-docs']);
  });
});

describe('round trips: import from a host, export back to a fresh file', () => {
  it('Claude Code', async () => {
    await box.install('claude-code/claude.json', paths.claudeCode());
    const original = (await box.readJson(paths.claudeCode())) as {
      mcpServers: Record<string, unknown>;
      projects: Record<string, { mcpServers: Record<string, unknown> }>;
    };
    await importJson({ from: 'claude-code' });
    await freshHome();
    const { report } = await exportJson({ to: 'claude-code' });
    expect(report.skipped).toEqual([]);
    const written = (await box.readJson(join(box.env.HOME!, '.claude.json'))) as typeof original;
    // Everything was imported into the local scope, so it comes back as this project's entries,
    // identical, with Claude Code's own precedence (local over user) already applied.
    expect(written.projects[box.project]!.mcpServers).toEqual({
      ...original.mcpServers,
      ...original.projects[box.project]!.mcpServers,
    });
  });

  it('Claude Desktop', async () => {
    await box.install('claude-desktop/claude_desktop_config.json', paths.desktop());
    const original = (await box.readJson(paths.desktop())) as { mcpServers: Record<string, unknown> };
    await importJson({ from: 'claude-desktop' });
    await freshHome();
    const { report } = await exportJson({ to: 'claude-desktop' });
    const written = (await box.readJson(
      join(box.env.HOME!, '.config', 'Claude', 'claude_desktop_config.json'),
    )) as typeof original;
    const { ['brave-search']: literal, ...rest } = original.mcpServers;
    expect(literal).toBeDefined();
    expect(written.mcpServers).toEqual(rest);
    // ${BRAVE_API_KEY} was literal text in Claude Desktop; patchbay reads it as a variable, which
    // Claude Desktop cannot expand, so it does not go back.
    expect(byName(report.skipped)['brave-search']!.reason).toContain('does not expand variables');
  });

  it('Cursor', async () => {
    await box.install('cursor/user-mcp.json', paths.cursorUser());
    await box.install('cursor/project-mcp.json', paths.cursorProject());
    await importJson({ from: 'cursor' });
    await freshHome();
    await rm(paths.cursorProject());
    const { report } = await exportJson({ to: 'cursor' });
    expect(report.skipped).toEqual([]);
    // Imported into the local scope, everything goes back to the project's file.
    const written = (
      (await box.readJson(paths.cursorProject())) as {
        mcpServers: Record<string, unknown>;
      }
    ).mcpServers;
    expect(written).toEqual({
      // The project file's entries win, as in Cursor.
      'repo-tools': {
        command: 'node',
        args: [`${box.project}/tools/mcp/server.js`],
        env: { REPO_NAME: 'shop', LOG_LEVEL: 'info' },
      },
      github: {
        url: 'https://api.githubcopilot.com/mcp/readonly',
        headers: { Authorization: 'Bearer ${env:GITHUB_PERSONAL_ACCESS_TOKEN}' },
      },
      context7: {
        command: 'npx',
        args: ['-y', '@upstash/context7-mcp', '--api-key', '${env:CONTEXT7_API_KEY}'],
      },
      // ${userHome} travelled as $HOME: the same directory.
      notes: {
        command: 'node',
        args: ['${env:HOME}/mcp/notes-server/dist/index.js'],
        env: { NOTES_DIR: '${env:HOME}/notes' },
      },
      linear: { type: 'sse', url: 'https://mcp.linear.app/sse' },
      figma: { url: 'http://127.0.0.1:3845/mcp' },
      // Cursor's own OAuth client stays behind (noted on import).
      atlassian: { url: 'https://mcp.atlassian.com/v1/sse' },
    });
  });

  it('VS Code', async () => {
    await box.install('vscode/user-mcp.json', paths.vscodeUser());
    await importJson({ from: 'vscode' });
    await freshHome();
    const { report } = await exportJson({ to: 'vscode' });
    expect(report.skipped).toEqual([]);
    const written = (await box.readJson(paths.vscodeWorkspace())) as {
      servers: Record<string, unknown>;
    };
    expect(written).toEqual({
      servers: {
        github: { type: 'http', url: 'https://api.githubcopilot.com/mcp/' },
        // The prompt became an environment variable (noted on import).
        perplexity: {
          type: 'stdio',
          command: 'npx',
          args: ['-y', 'server-perplexity-ask'],
          env: { PERPLEXITY_API_KEY: '${env:PERPLEXITY_KEY}' },
        },
        fetch: { type: 'stdio', command: 'uvx', args: ['mcp-server-fetch'] },
        'microsoft-docs': { type: 'http', url: 'https://learn.microsoft.com/api/mcp' },
      },
    });
  });
});
