/**
 * `patchbay help [topic]`: a command's help, or a topic that is no command's (where config lives,
 * what each exit code means).
 */

import { join } from 'node:path';
import type { Command } from 'commander';
import { findProjectRoot, projectConfigPath } from '../../core/paths.js';
import { EXIT, EXIT_CODE_TABLE, PatchbayError } from '../../errors.js';
import type { Io } from '../io.js';

const HELP_TOPICS: Record<string, (io: Io) => string> = {
  'exit-codes': () =>
    [
      'Exit codes of patchbay:',
      '',
      ...EXIT_CODE_TABLE.map(({ code, meaning }) => `  ${String(code).padEnd(3)} ${meaning}`),
      '',
    ].join('\n'),
  config: (io) => {
    // The paths of this machine and this directory, filled in: what a person would look up next.
    const config = io.paths.userConfig;
    const root = findProjectRoot(io.cwd, io.env);
    const project = JSON.stringify(root);
    return [
      'Where servers live (highest precedence first; whole entries, no field merging), from here:',
      '',
      `  local    you, this project   ${config}`,
      `                               under projects[${project}].mcpServers`,
      `  project  the team, committed ${projectConfigPath(root)} (Claude Code's format)`,
      `  user     you, every project  ${config}, under mcpServers`,
      '',
      'config.json lives in $PATCHBAY_CONFIG_DIR, else $XDG_CONFIG_HOME/patchbay, else ~/.config/patchbay.',
      'The project root is the nearest directory upward with a .mcp.json, else with .git, else the',
      'current directory (PATCHBAY_PROJECT_DIR overrides). Servers from .mcp.json are not contacted',
      'until you approve them: patchbay approve <name>.',
      '',
      'An entry (the .mcp.json format Claude Code reads):',
      '  {"mcpServers": {"notion": {"type": "http", "url": "https://mcp.notion.com/mcp",',
      '                              "headers": {"Authorization": "Bearer ${NOTION_TOKEN}"}},',
      '                  "files":  {"type": "stdio", "command": "npx", "args": ["-y", "some-server"],',
      '                              "env": {"ROOT": "${HOME}/src"}}}}',
      '',
      'type: http (Streamable HTTP; "streamable-http" is an alias), sse (legacy), stdio. An entry with a',
      'command and no type is stdio. Also: oauth {clientId, callbackPort, scopes, authServerMetadataUrl,',
      '  grant (authorization_code | client_credentials | cross_app_access), clientAuthMethod, and for',
      '  cross-app access idpIssuer, idpClientId, idTokenFile | idTokenEnv; secrets and keys are never here},',
      'headersHelper (a command printing a JSON object of headers, run without a shell), timeout,',
      "and patchbay's own keys, which Claude Code ignores: tls {caFile, certFile, keyFile} (PEM paths)",
      'and inheritEnv (stdio: false starts the server with a minimal environment, see below).',
      'perMember (http/sse, true): a team gateway (serve --config) calls the server with each',
      "member's own login, kept encrypted in its member vault (vault.key), instead of one shared login.",
      '',
      'Durations: "timeout" in a file is milliseconds (Claude Code\'s format: 30000 is 30 s); it is',
      "that server's time limit in every command (list, get, tools, call, doctor, serve, the console)",
      'and wins over --timeout. On the command line every duration takes a unit: 500ms, 30s, 2m, 1h;',
      'a bare number is seconds (add --timeout 30s writes "timeout": 30000). PATCHBAY_TIMEOUT too.',
      '',
      "A stdio server gets your environment with the entry's env over it, as under Claude Code,",
      "Cursor and VS Code. To keep your shell's variables (tokens, cloud keys) from a server, set",
      '"inheritEnv": false in its entry, or PATCHBAY_STDIO_INHERIT_ENV=0 for every server: it then',
      'gets PATH, HOME, the locale and temp directories, and its own env only.',
      '',
      '${VAR} and ${VAR:-default} are expanded in url, headers, command, args, env, headersHelper and tls.',
      'An unset variable without a default makes that server fail with a reason naming it.',
      '',
      'Policy (patchbay permit, limit, enable, disable) lives beside the servers: under "policy" in',
      `config.json (user) and projects[${project}].policy (local), and in the team's committed`,
      `${join(root, '.patchbay.json')} (project):`,
      '  {"default": "ask", "servers": {"github": {"enabled": false, "tools": {"delete_*": "deny"},',
      '                                             "limits": {"*": "100/hour"}}}}',
      'The .patchbay.json comes with the repository: until you approve it as it reads now',
      '(patchbay approve --policy), only what it tightens applies (deny, ask, a stricter default,',
      'limits, disable); its allow rules and a looser default wait. patchbay policy shows what waits.',
      "The administrator's /etc/patchbay/managed.json (PATCHBAY_MANAGED_POLICY) takes Claude Code's",
      'allowedMcpServers / deniedMcpServers lists. See: patchbay policy.',
      '',
    ].join('\n');
  },
};

export function runHelp(topic: string | undefined, program: Command, io: Io): number {
  const topicText = topic && Object.hasOwn(HELP_TOPICS, topic) ? HELP_TOPICS[topic] : undefined;
  if (topicText) {
    io.stdout.write(topicText(io));
    return EXIT.ok;
  }
  const command = topic ? program.commands.find((candidate) => candidate.name() === topic) : undefined;
  if (topic && !command) {
    throw new PatchbayError('usage', `No command or help topic named ${JSON.stringify(topic)}.`, {
      hint: `Topics: ${Object.keys(HELP_TOPICS).join(', ')}. Commands: ${program.commands.map((c) => c.name()).join(', ')}.`,
    });
  }
  io.stdout.write((command ?? program).helpInformation());
  return EXIT.ok;
}
