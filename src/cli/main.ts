#!/usr/bin/env node
/**
 * The `patchbay` command. Parsing only: each command's module is imported when it runs, so a
 * command that needs no network never loads the MCP SDK. This is the only file that exits.
 */

import { realpathSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError, Option } from 'commander';
import { terminateProcessGroups } from '../connect/live-children.js';
import { findProjectRoot, projectConfigPath, resolvePaths, userConfigPath } from '../core/paths.js';
import { terminalText } from '../core/terminal-text.js';
import { EXIT, EXIT_CODE_TABLE, exitCodeOf, PatchbayError } from '../errors.js';
import { paint, processIo, useColor, writeLine, type Io } from './io.js';
import { withOutputLimit } from './output-limit.js';
import { packageVersion } from '../core/version.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

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
    const config = userConfigPath(io.env);
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
      'command and no type is stdio. Also: oauth {clientId, callbackPort, scopes, authServerMetadataUrl},',
      'headersHelper (a command printing a JSON object of headers, run without a shell), timeout,',
      "and patchbay's own keys, which Claude Code ignores: tls {caFile, certFile, keyFile} (PEM paths)",
      'and inheritEnv (stdio: false starts the server with a minimal environment, see below).',
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

/** --max-output, on every command that prints what a server returns. */
function maxOutputOption(): Option {
  return new Option(
    '--max-output <chars>',
    'cut the output after this many characters, with a note (default 1000000; --json only when given)',
  );
}

/** How call, read and prompt answer the requests a server makes while it works on theirs. */
function withServerRequestOptions(command: Command): Command {
  return command
    .option('--accept-defaults', "answer the server's questions with their defaults, without asking")
    .option('--roots', 'let the server see the current directory as a root (roots/list)');
}

// commander hands actions untyped operands and an options bag; each command's parse function checks them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Action = (...args: any[]) => Promise<number> | number;

function buildProgram(io: Io, argv: string[], setExitCode: (code: number) => void): Command {
  // Every action returns its exit code; commander discards return values, so record it here.
  const act =
    (action: Action) =>
    async (...args: unknown[]) =>
      setExitCode(await action(...args));

  const program = new Command('patchbay')
    .description('Connect any MCP host to remote MCP servers, and keep those connections working.')
    .version(packageVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay add notion https://mcp.notion.com/mcp
  $ patchbay add -s project -H "Authorization: Bearer \${SENTRY_TOKEN}" sentry https://mcp.sentry.dev/mcp
  $ patchbay add files -- npx -y @modelcontextprotocol/server-filesystem ~/src
  $ patchbay list
  $ patchbay get notion --json
  $ patchbay demo

More: patchbay help config · patchbay help exit-codes`,
    );
  program.helpCommand(false);

  program
    .command('add')
    .description('Add a server: a URL (http by default) or, after "--", a command to run (stdio)')
    .argument('<name>', 'server name: 1-64 letters, digits, "_" or "-"')
    .argument('[url-or-command...]', 'the server URL, or "--" followed by a command and its arguments')
    .addOption(
      new Option('-t, --transport <transport>', 'http (Streamable HTTP), sse (legacy) or stdio').choices([
        'http',
        'streamable-http',
        'sse',
        'stdio',
      ]),
    )
    .option(
      '-s, --scope <scope>',
      'local (you, this project), project (.mcp.json) or user (you, all projects)',
      'local',
    )
    .option('-H, --header <header>', 'an HTTP header "Name: value" (repeatable; ${VAR} allowed)', collect)
    .option(
      '-e, --env <KEY=value>',
      'an environment variable for a stdio command (repeatable, one per flag)',
      collect,
    )
    .option('--client-id <id>', 'pre-registered OAuth client ID')
    .option(
      '--client-secret',
      'ask for the OAuth client secret (or read MCP_CLIENT_SECRET); stored privately, never in the config',
    )
    .option('--callback-port <port>', 'fixed port for the OAuth redirect (http://localhost:PORT/callback)')
    .option(
      '--headers-helper <command>',
      'a command that prints a JSON object of headers, run at connect time',
    )
    .option('--ca-file <path>', 'PEM file of CA certificates to trust for this server (a private CA)')
    .option('--client-cert <path>', 'PEM client certificate for mutual TLS (with --client-key)')
    .option('--client-key <path>', 'PEM private key of the client certificate')
    .option(
      '--timeout <duration>',
      "this server's timeout in every command (30s, 2m, 500ms; a bare number is seconds)",
    )
    .option('-f, --force', 'replace an existing entry of the same name in that scope')
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay add notion https://mcp.notion.com/mcp
  $ patchbay add -t sse legacy https://example.com/sse
  $ patchbay add -s project -H "X-Api-Key: \${API_KEY}" api https://api.example.com/mcp
  $ patchbay add --client-id my-app --callback-port 8080 corp https://mcp.corp.example/mcp
  $ patchbay add --ca-file /etc/ssl/corp-ca.pem intranet https://mcp.intranet.example/mcp
  $ patchbay add -e ROOT=\${HOME}/src files -- npx -y @modelcontextprotocol/server-filesystem /tmp`,
    )
    .action(
      act(async (name: string, operands: string[], flags) => {
        const { parseAddOptions, runAdd } = await import('./commands/add.js');
        return runAdd(parseAddOptions(name, operands, flags, argv.includes('--')), io);
      }),
    );

  program
    .command('add-json')
    .description('Add a server from a JSON entry in .mcp.json\'s format ("-" reads standard input)')
    .argument('<name>', 'server name')
    .argument('<json>', 'the entry as JSON, or "-"')
    .option('-s, --scope <scope>', 'local, project or user', 'local')
    .option('-f, --force', 'replace an existing entry of the same name in that scope')
    .addHelpText(
      'after',
      `\nExample:\n  $ patchbay add-json api '{"type":"http","url":"https://api.example.com/mcp","headers":{"Authorization":"Bearer \${API_TOKEN}"}}'`,
    )
    .action(
      act(async (name: string, json: string, flags) => {
        const { parseAddJsonOptions, runAddJson } = await import('./commands/add-json.js');
        return runAddJson(parseAddJsonOptions(name, json, flags), io);
      }),
    );

  program
    .command('list')
    .description('List servers, the scope each comes from, and check that each one works')
    .option('--json', 'machine-readable output (stable; see the README)')
    .option('--no-check', 'do not contact any server')
    .option('--timeout <duration>', 'per-server check timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .option('--show-secrets', 'show secret values instead of ****')
    .option('--no-refresh', 'read-only: do not renew an expired login (it shows as renewing on next use)')
    .addHelpText(
      'after',
      `
Exit status: 0 all fine (or off on purpose), 4 only logins missing, 5 only approvals pending,
8 a server not reached or troubles of different kinds, 2 a config file is broken
(patchbay help exit-codes).

Examples:
  $ patchbay list
  $ patchbay list --no-check --json`,
    )
    .action(
      act(async (flags) => {
        const { parseListOptions, runList } = await import('./commands/list.js');
        return runList(parseListOptions(flags, io.env), io);
      }),
    );

  program
    .command('get')
    .description('Show one server in full: entry, scope, what it shadows, and its status')
    .argument('<name>', 'server name')
    .option('--json', 'machine-readable output')
    .option('--resolved', 'also show the values after ${VAR} expansion (masked)')
    .option('--show-secrets', 'show secret values instead of ****')
    .option('--no-check', 'do not contact the server')
    .option('--timeout <duration>', 'check timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .option('--no-refresh', 'read-only: do not renew an expired login (it shows as renewing on next use)')
    .addHelpText('after', '\nExamples:\n  $ patchbay get notion\n  $ patchbay get notion --resolved --json')
    .action(
      act(async (name: string, flags) => {
        const { parseGetOptions, runGet } = await import('./commands/get.js');
        return runGet(parseGetOptions(name, flags, io.env), io);
      }),
    );

  program
    .command('tools')
    .description("List a server's tools: name, title, annotations, arguments, description")
    .argument('<name>', 'server name')
    .option('--json', 'machine-readable output (the tools as the server describes them)')
    .option('--timeout <duration>', 'timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .addOption(maxOutputOption())
    .addHelpText('after', '\nExamples:\n  $ patchbay tools notion\n  $ patchbay tools notion --json')
    .action(
      act(async (name: string, flags) => {
        const { parseToolsOptions, runTools } = await import('./commands/tools.js');
        const options = parseToolsOptions(name, flags, io.env);
        return withOutputLimit(io, flags, (io) => runTools(options, io));
      }),
    );

  program
    .command('tool')
    .description("Show one tool's description, annotations, and input and output schema")
    .argument('<name>', 'server name')
    .argument('<tool>', 'tool name')
    .option('--json', 'machine-readable output')
    .option('--timeout <duration>', 'timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .addOption(maxOutputOption())
    .addHelpText('after', '\nExamples:\n  $ patchbay tool notion search')
    .action(
      act(async (name: string, tool: string, flags) => {
        const { parseToolOptions, runTool } = await import('./commands/tools.js');
        const options = parseToolOptions(name, tool, flags, io.env);
        return withOutputLimit(io, flags, (io) => runTool(options, io));
      }),
    );

  for (const [command, what, run] of [
    ['resources', "List a server's resources and resource templates", 'runResources'],
    ['prompts', "List a server's prompts and their arguments", 'runPrompts'],
  ] as const) {
    program
      .command(command)
      .description(what)
      .argument('<name>', 'server name')
      .option('--json', 'machine-readable output (as the server describes them)')
      .option('--timeout <duration>', 'timeout (default 10s, or PATCHBAY_TIMEOUT)')
      .addOption(maxOutputOption())
      .addHelpText(
        'after',
        `\nExamples:\n  $ patchbay ${command} notion\n  $ patchbay ${command} notion --json`,
      )
      .action(
        act(async (name: string, flags) => {
          const catalog = await import('./commands/catalog.js');
          const options = catalog.parseCatalogOptions(name, flags, io.env);
          return withOutputLimit(io, flags, (io) => catalog[run](options, io));
        }),
      );
  }

  const call = program
    .command('call')
    .description('Call a tool: key=value typed by its schema, validated before sending')
    .argument('<name>', 'server name')
    .argument('<tool>', 'tool name (see: patchbay tools <name>)')
    .argument('[arguments...]', 'key=value pairs (numbers, booleans, JSON for objects and arrays)')
    .option(
      '--args <json>',
      "arguments as a JSON object ('-' reads it from stdin); key=value pairs go on top",
    )
    .option('-o, --output <dir>', 'where images, audio and other binary results are written')
    .option('--json', 'the whole tool result as JSON')
    .option('--timeout <duration>', 'timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .option('-y, --yes', 'approve a tool that policy sets to ask, without asking')
    .option('--log-arguments', "keep the call's arguments in the audit log (secrets masked)")
    .option('--allow-unknown-args', "send argument names the tool's schema does not declare")
    .addOption(maxOutputOption());
  withServerRequestOptions(call)
    .addHelpText(
      'after',
      `
Arguments are checked against the tool's schema before anything is sent: a wrong type, a value
not allowed or a missing argument is named, with an example call; an unknown name is refused with
the nearest one (--allow-unknown-args sends it anyway).
A result with isError exits 1 with its text on stderr. A question from the server is asked on a
terminal; without one it is declined, or answered with its defaults given --accept-defaults.
Policy applies (patchbay policy <name>): a denied tool is refused; one set to ask is asked about
on a terminal and refused without one unless --yes; a limit reached refuses the call. Every call
is recorded in the audit log (patchbay log).

Examples:
  $ patchbay call demo add a=2 b=3
  $ patchbay call ev echo message='hello world'
  $ echo '{"query": "mcp"}' | patchbay call docs search --args -`,
    )
    .action(
      act(async (name: string, tool: string, pairs: string[], flags) => {
        const { parseCallOptions, runCall } = await import('./commands/call.js');
        const options = parseCallOptions(name, tool, pairs, flags, io.env);
        return withOutputLimit(io, flags, (io) => runCall(options, io));
      }),
    );

  const read = program
    .command('read')
    .description("Read a server's resource: text to stdout, binary to a file (-o)")
    .argument('<name>', 'server name')
    .argument('<uri>', 'resource URI (see: patchbay resources <name>)')
    .option('-o, --output <file>', 'where to write binary content')
    .option('--json', 'the contents as the server sent them (binary as base64)')
    .option('--timeout <duration>', 'timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .addOption(maxOutputOption());
  withServerRequestOptions(read)
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay read docs file:///README.md\n  $ patchbay read ev demo://resource/static/document/architecture.md',
    )
    .action(
      act(async (name: string, uri: string, flags) => {
        const { parseReadOptions, runRead } = await import('./commands/read.js');
        const options = parseReadOptions(name, uri, flags, io.env);
        return withOutputLimit(io, flags, (io) => runRead(options, io));
      }),
    );

  const prompt = program
    .command('prompt')
    .description("Get a server's prompt with arguments; prints the messages")
    .argument('<name>', 'server name')
    .argument('<prompt>', 'prompt name (see: patchbay prompts <name>)')
    .argument('[arguments...]', 'key=value pairs')
    .option('--json', 'machine-readable output')
    .option('--timeout <duration>', 'timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .addOption(maxOutputOption());
  withServerRequestOptions(prompt)
    .addHelpText('after', '\nExamples:\n  $ patchbay prompt demo greet name=Ada')
    .action(
      act(async (name: string, prompt: string, pairs: string[], flags) => {
        const { parsePromptOptions, runPrompt } = await import('./commands/prompt.js');
        const options = parsePromptOptions(name, prompt, pairs, flags, io.env);
        return withOutputLimit(io, flags, (io) => runPrompt(options, io));
      }),
    );

  program
    .command('serve')
    .description(
      'Serve every configured server as one MCP server, over stdio or Streamable HTTP (the gateway)',
    )
    .option('--http [[host:]port]', `speak Streamable HTTP at http://host:port/mcp (default 127.0.0.1:7431)`)
    .option('--servers <names>', 'serve only these servers (comma-separated)')
    .option('--print-token', 'print the bearer token HTTP hosts must send, and exit')
    .option(
      '--dangerously-expose',
      'allow --http on an address other machines can reach (a token is still required)',
    )
    .option('--dangerously-no-auth', 'accept HTTP requests without the token (loopback only)')
    .option('--timeout <duration>', 'connect timeout of each server (default 10s, or PATCHBAY_TIMEOUT)')
    .option('--log-arguments', "keep each call's arguments in the audit log (secrets masked)")
    .option('--max-sessions <n>', 'HTTP: sessions of 2025-era hosts held at once (default 100)')
    .option(
      '--session-idle-timeout <duration>',
      'HTTP: close a 2025-era session with no request or stream open for this long (default 30m)',
    )
    .option(
      '--headers-timeout <duration>',
      'HTTP: time a client has to send its request headers (default 10s)',
    )
    .option(
      '--request-timeout <duration>',
      'HTTP: time a client has to send its whole request; answers may stream longer (default 30s)',
    )
    .option('--max-connections <n>', 'HTTP: connections open at once (default 1024)')
    .option(
      '--max-connections-per-client <n>',
      'HTTP: connections open at once from one address (default 256)',
    )
    .addHelpText(
      'after',
      `
Tools and prompts are named <server>__<name> (long or colliding names get a short hash); resource
URIs are kept. A server that is down or needs a login stays listed, and calling it says why.

Examples:
  $ claude mcp add patchbay -- patchbay serve
  $ patchbay serve --http 7431
  $ patchbay serve --print-token`,
    )
    .action(
      act(async (flags) => {
        const { parseServeOptions, runServe } = await import('./commands/serve.js');
        return runServe(parseServeOptions(flags, io.env), io);
      }),
    );

  program
    .command('connect')
    .description(
      'Serve one configured server over stdio, under its own names (a bridge for stdio-only hosts)',
    )
    .argument('<name>', 'server name')
    .option('--timeout <duration>', 'connect timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .option('--log-arguments', "keep each call's arguments in the audit log (secrets masked)")
    .addHelpText(
      'after',
      `
With patchbay's transports, proxy support, certificates and OAuth: what mcp-remote does, for a
server patchbay already has.

Examples:
  $ claude mcp add notion -- patchbay connect notion
  $ patchbay connect sentry`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseConnectOptions, runServe } = await import('./commands/serve.js');
        return runServe(parseConnectOptions(name, flags, io.env), io);
      }),
    );

  for (const [command, what] of [
    ['install', "Add the gateway (patchbay serve) to a host's own config as one server named patchbay"],
    ['uninstall', "Remove the gateway's entry from a host's config (only if it is still patchbay's)"],
  ] as const) {
    const defined = program
      .command(command)
      .description(what)
      .requiredOption('--host <host>', 'claude-code, claude-desktop, cursor or vscode')
      .option('--dry-run', 'show what would change, change nothing')
      .option('--json', 'machine-readable output');
    if (command === 'install')
      defined
        .option('--servers <names>', 'serve only these servers (comma-separated)')
        .option(
          '--http [url]',
          'enter a running "patchbay serve --http" (default http://127.0.0.1:7431/mcp), its token from $PATCHBAY_GATEWAY_TOKEN',
        )
        .option('-f, --force', 'replace an entry named patchbay that is not the gateway')
        .option('--allow-empty', 'install even if the gateway would serve no servers yet');
    defined
      .addHelpText(
        'after',
        `
The host's file is copied to <file>.patchbay-backup-<time> before it is changed; a file that does
not parse is never touched.

Examples:
  $ patchbay ${command} --host claude-desktop${command === 'install' ? ' --dry-run' : ''}
  $ patchbay ${command} --host cursor${command === 'install' ? '\n  $ patchbay install --host claude-code --http' : ''}`,
      )
      .action(
        act(async (flags) => {
          const module = await import('./commands/install.js');
          const options = module.parseInstallOptions(flags);
          return command === 'install' ? module.runInstall(options, io) : module.runUninstall(options, io);
        }),
      );
  }

  program
    .command('doctor')
    .description(
      'Diagnose servers layer by layer (config, DNS, TCP, proxy, TLS, HTTP, auth, MCP, tools) with the fix',
    )
    .argument('[name]', 'one server (default: every server, in parallel)')
    .option('--json', 'machine-readable output: the same findings, as fields')
    .option(
      '--timeout <duration>',
      "per-server time budget (default 10s, or PATCHBAY_TIMEOUT; an entry's timeout wins)",
    )
    .option('--no-refresh', 'read-only: do not renew an expired login (it shows as renewing on next use)')
    .addHelpText(
      'after',
      `
Registers nothing and opens no browser. An expired login with a refresh token is renewed, as a
call would renew it; with --no-refresh nothing is changed: no token request, no file written.
Exit status as list's: 0 every server fine, 4 only logins missing, 5 only approvals pending, 8 otherwise.

Examples:
  $ patchbay doctor
  $ patchbay doctor notion
  $ patchbay doctor notion --json --timeout 30`,
    )
    .action(
      act(async (name: string | undefined, flags) => {
        const { parseDoctorOptions, runDoctor } = await import('./commands/doctor.js');
        return runDoctor(parseDoctorOptions(name, flags, io.env), io);
      }),
    );

  program
    .command('remove')
    .description('Remove a server (from the one scope that has it, or the one given)')
    .argument('<name>', 'server name')
    .option('-s, --scope <scope>', 'local, project or user')
    .action(
      act(async (name: string, flags) => {
        const { parseRemoveOptions, runRemove } = await import('./commands/remove.js');
        return runRemove(parseRemoveOptions(name, flags), io);
      }),
    );

  program
    .command('permit')
    .description("Set a tool's permission: allow, ask (approve each call) or deny (unlisted, refused)")
    .argument('<name>', 'server name')
    .argument('<tool-or-glob>', "a tool's name, or a glob such as 'delete_*'")
    .argument('[decision]', 'allow, ask, deny, or default (remove this rule)')
    .option('-s, --scope <scope>', "local (default), project (the team's .patchbay.json) or user")
    .option(
      '--group <group>',
      'read-only (tools whose annotations say readOnlyHint) or other: the decision for the whole group, given in place of the tool',
    )
    .addHelpText(
      'after',
      `
The most precise rule of each scope applies; between scopes the strictest wins (deny, ask, allow).
A tool no rule names takes its group's decision (--group), else the default; else it is allowed,
or asked about when its annotations say it is destructive.

Examples:
  $ patchbay permit sentry 'delete_*' deny
  $ patchbay permit github create_issue ask -s project
  $ patchbay permit github create_issue default
  $ patchbay permit github --group read-only allow     # every read-only tool
  $ patchbay permit github --group other ask           # every other tool`,
    )
    .action(
      act(async (name: string, pattern: string, decision: string | undefined, flags) => {
        const { parsePermitOptions, runPermit } = await import('./commands/permit.js');
        return runPermit(parsePermitOptions(name, pattern, decision, flags), io);
      }),
    );

  for (const [command, what] of [
    ['enable', 'Use a server again that patchbay disable turned off'],
    ['disable', 'Turn a server off: not listed, served or contacted, its entry kept'],
  ] as const)
    program
      .command(command)
      .description(what)
      .argument('<name>', 'server name')
      .option('-s, --scope <scope>', "local (default), project (the team's .patchbay.json) or user")
      .addHelpText(
        'after',
        `\nExamples:\n  $ patchbay ${command} sentry\n  $ patchbay ${command} sentry -s user`,
      )
      .action(
        act(async (name: string, flags) => {
          const { parseEnableOptions, runEnable } = await import('./commands/permit.js');
          return runEnable(parseEnableOptions(name, command === 'enable', flags), io);
        }),
      );

  program
    .command('limit')
    .description("Limit how often a server's tools may be called: N per minute, hour or day")
    .argument('<name>', 'server name')
    .argument('<limit...>', '[tool-or-glob] N/minute|hour|day, or none to remove it')
    .option('-s, --scope <scope>', "local (default), project (the team's .patchbay.json) or user")
    .addHelpText(
      'after',
      `
Counts are kept for every patchbay process of this computer together (the gateway and
patchbay call), in fixed windows of a UTC minute, hour or day, and survive restarts. A call
beyond the limit is refused with the time its window reopens.

Examples:
  $ patchbay limit sentry 100/hour             # all of sentry's tools together
  $ patchbay limit github 'create_*' 5/day
  $ patchbay limit github 'create_*' none`,
    )
    .action(
      act(async (name: string, rest: string[], flags) => {
        const { parseLimitOptions, runLimit } = await import('./commands/permit.js');
        return runLimit(await parseLimitOptions(name, rest, flags), io);
      }),
    );

  program
    .command('log')
    .description('Show the audit log: every call through patchbay serve or patchbay call')
    .argument('[name]', 'only this server')
    .option('--since <when>', 'how far back: 90s, 15m, 1h, 2d, 1w or a date (default 24h)')
    .option('--json', 'machine-readable output (the entries)')
    .addHelpText(
      'after',
      `
Every call through "patchbay serve" or "patchbay call" is recorded in
$PATCHBAY_STATE_DIR/audit.jsonl (default ~/.local/state/patchbay/audit.jsonl): time, host, server,
tool, decision, outcome, duration and sizes. Arguments only with --log-arguments, secrets masked.
--since takes 90s, 15m, 1h, 2d, 1w or an ISO date (default 24h).

Examples:
  $ patchbay log
  $ patchbay log notion --since 1h
  $ patchbay log --since 2026-01-31T09:00 --json`,
    )
    .action(
      act(async (name: string | undefined, flags) => {
        const { parseLogOptions, runLog } = await import('./commands/log.js');
        return runLog(parseLogOptions(name, flags), io);
      }),
    );

  program
    .command('stats')
    .description('Summarise the audit log: calls, errors and latency per server and tool')
    .option('--since <when>', 'how far back: 90s, 15m, 1h, 2d, 1w or a date (default 1d)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Percentiles are over the calls that reached the server; refused calls count as errors.
--since takes 90s, 15m, 1h, 2d, 1w or an ISO date (default 1d).

Examples:
  $ patchbay stats
  $ patchbay stats --since 1w
  $ patchbay stats --json`,
    )
    .action(
      act(async (flags) => {
        const { parseStatsOptions, runStats } = await import('./commands/log.js');
        return runStats(parseStatsOptions(flags), io);
      }),
    );

  program
    .command('policy')
    .description('Show the rule in effect for every tool of a server, and which file decided it')
    .argument('[name]', 'only this server (default: every configured server)')
    .option('--json', 'machine-readable output (one object per server)')
    .option('--no-check', 'only what the policy files say: contact no server, list no tools')
    .option('--timeout <duration>', 'timeout for each server (default 10s, or PATCHBAY_TIMEOUT)')
    .addHelpText(
      'after',
      `
Each tool shows allow, ask or deny and what decided it: a rule and the file it is in (local or
user: patchbay's config.json; project: the team's .patchbay.json), a default, or the tool's
annotations. Between files the strictest wins (deny, ask, allow). Limits show how much of the
current window is used and when it reopens. A tool whose description or schemas changed since it
was first allowed is flagged and asked about until reviewed (patchbay review <name>). Rules that
match no listed tool are pointed out. A server the administrator's policy blocks, or one that is
disabled or not approved, is never contacted. Exit status as list's (patchbay help exit-codes).

Examples:
  $ patchbay policy
  $ patchbay policy sentry
  $ patchbay policy --no-check --json`,
    )
    .action(
      act(async (name: string | undefined, flags) => {
        const { parsePolicyOptions, runPolicy } = await import('./commands/policy.js');
        return runPolicy(parsePolicyOptions(name, flags, io.env), io);
      }),
    );

  program
    .command('review')
    .description('Show how tools changed since they were pinned (a diff), and accept the changes')
    .argument('<name>', 'server name')
    .option('--accept [tool...]', 'accept the changes shown: all of them, or only the tools named')
    .option('--json', 'machine-readable output (the changes: old and new definition, summary, diff)')
    .addHelpText(
      'after',
      `
The first time a tool is allowed, its description and schemas are pinned. When a server changes
them, the tool is asked about before each call until the change is accepted here. --accept
accepts only the version shown in the same run: a tool that changed again meanwhile is left
flagged (exit 1). Changes are noticed when patchbay call, patchbay serve or patchbay policy
lists the tools.

Examples:
  $ patchbay review github
  $ patchbay review github --accept
  $ patchbay review github --accept create_issue --json`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseReviewOptions, runReview } = await import('./commands/policy.js');
        return runReview(parseReviewOptions(name, flags), io);
      }),
    );

  program
    .command('ui')
    .description('Open the console: a local web page for every configured server (127.0.0.1 only)')
    .option('--port <n>', 'listen on this port (default: any free port)')
    .option('--no-open', 'print the URL without opening a browser')
    .addHelpText(
      'after',
      `
Prints the URL to open on stdout; the page exchanges its one-time token for a session that lives
in that browser tab (no cookie), so the URL works once, in one tab. Serves until Ctrl-C.
PATCHBAY_BROWSER names the browser to use.

Examples:
  $ patchbay ui
  $ patchbay ui --port 7432 --no-open`,
    )
    .action(
      act(async (flags) => {
        const { parseUiOptions, runUi } = await import('./commands/ui.js');
        return runUi(parseUiOptions(flags), io);
      }),
    );

  program
    .command('login')
    .description('Log in to a server with OAuth (opens a browser; prints the URL when it cannot)')
    .argument('<name>', 'the server to log in to')
    .option('--no-browser', 'print the login URL instead of opening a browser (paste the address it ends on)')
    .option('--device', 'log in with a code typed on another device (RFC 8628), where the server offers it')
    .option(
      '--oauth-scope <scopes>',
      'space-separated OAuth scopes to ask for (default: what the server asks for)',
    )
    // The old spelling: --scope is a config scope (local, project, user) everywhere else.
    .addOption(new Option('--scope <scopes>').hideHelp())
    .option('--timeout <duration>', 'how long to wait for the browser (default 5m)')
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay login notion
  $ patchbay login --no-browser corp          # over SSH: open the URL elsewhere, paste the address it ends on
  $ patchbay login --device corp              # headless: type a code on another device
  $ patchbay login corp --oauth-scope "mcp:read mcp:write"
  $ PATCHBAY_BROWSER=firefox patchbay login corp`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseLoginOptions, runLogin } = await import('./commands/login.js');
        return runLogin(parseLoginOptions(name, flags, io), io);
      }),
    );

  program
    .command('logout')
    .description("Remove a server's stored login, and revoke its tokens where the server offers revocation")
    .argument('<name>', 'the server (or the URL of a stored login no server uses any more)')
    .option('--timeout <duration>', 'how long revocation may take (default 10s, or PATCHBAY_TIMEOUT)')
    .addHelpText(
      'after',
      `
The tokens are removed here first; a revocation that fails is a warning. The client registration
stays, for the next login.

Examples:
  $ patchbay logout notion
  $ patchbay logout https://old.example.com/mcp   # a login listed by auth status under no server`,
    )
    .action(
      act(async (name: string, flags) => {
        const { parseLogoutOptions, runLogout } = await import('./commands/logout.js');
        return runLogout(parseLogoutOptions(name, flags, io.env), io);
      }),
    );

  const auth = program.command('auth').description('OAuth logins and how each server is authenticated');
  auth
    .command('status')
    .description(
      'Per server: header, OAuth or none; issuer, client registration, scopes, expiry, refresh (no network)',
    )
    .option('--json', 'machine-readable output (stable; see the README)')
    .addHelpText(
      'after',
      '\nNever shows a token. Exit status: 0, or 2 when a config file is broken.\n\nExamples:\n  $ patchbay auth status\n  $ patchbay auth status --json',
    )
    .action(
      act(async (flags) => {
        const { parseAuthStatusOptions, runAuthStatus } = await import('./commands/auth-status.js');
        return runAuthStatus(parseAuthStatusOptions(flags), io);
      }),
    );

  auth
    .command('refresh')
    .description('Renew a login now with its stored refresh token (a health check never does)')
    .argument('<name>', 'the server')
    .option('--timeout <duration>', 'per-server timeout (default 10s, or PATCHBAY_TIMEOUT)')
    .addHelpText('after', '\nExamples:\n  $ patchbay auth refresh corp')
    .action(
      act(async (name: string, flags) => {
        const { parseAuthRefreshOptions, runAuthRefresh } = await import('./commands/auth-refresh.js');
        return runAuthRefresh(parseAuthRefreshOptions(name, flags, io.env), io);
      }),
    );

  program
    .command('approve')
    .description(
      "Approve servers from this project's .mcp.json, or its .patchbay.json policy (bound to their current content)",
    )
    .argument('[names...]', 'server names')
    .option('--policy', "approve the project's .patchbay.json: what it loosens takes effect too")
    .option('--all', 'approve every server in .mcp.json, and the .patchbay.json')
    .action(
      act(async (names: string[], flags) => {
        const { parseChoiceOptions, runChoice } = await import('./commands/approve.js');
        return runChoice(parseChoiceOptions('approved', names, flags), io);
      }),
    );

  program
    .command('reject')
    .description(
      "Reject servers from this project's .mcp.json (never contacted), or what its .patchbay.json loosens",
    )
    .argument('[names...]', 'server names')
    .option('--policy', "reject what the project's .patchbay.json loosens (what it tightens still applies)")
    .option('--all', 'reject every server in .mcp.json, and the .patchbay.json')
    .action(
      act(async (names: string[], flags) => {
        const { parseChoiceOptions, runChoice } = await import('./commands/approve.js');
        return runChoice(parseChoiceOptions('rejected', names, flags), io);
      }),
    );

  program
    .command('reset-project-choices')
    .description("Forget approvals and rejections for this project's .mcp.json servers and .patchbay.json")
    .action(
      act(async () => {
        const { runResetProjectChoices } = await import('./commands/approve.js');
        return runResetProjectChoices(io);
      }),
    );

  program
    .command('import')
    .description("Import servers from another host's config (claude-code, claude-desktop, cursor, vscode)")
    .requiredOption('--from <host>', 'claude-code, claude-desktop, cursor or vscode')
    .option('-s, --scope <scope>', 'scope to import into', 'local')
    .option('--dry-run', 'report what would be imported, change nothing')
    .option('-f, --force', 'replace same-named entries')
    .option('--json', 'machine-readable report')
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay import --from claude-desktop --dry-run\n  $ patchbay import --from cursor -s user',
    )
    .action(
      act(async (flags) => {
        const { parseImportOptions, runImport } = await import('./commands/import.js');
        return runImport(parseImportOptions(flags), io);
      }),
    );

  program
    .command('export')
    .description(
      "Write patchbay's servers into another host's config (claude-code, claude-desktop, cursor, vscode)",
    )
    .requiredOption('--to <host>', 'claude-code, claude-desktop, cursor or vscode')
    .option('-s, --scope <scope>', 'export only this scope')
    .option('--dry-run', 'report what would be written, change nothing')
    .option('-f, --force', 'replace same-named entries in the target')
    .option('--json', 'machine-readable report')
    .addHelpText(
      'after',
      '\nExamples:\n  $ patchbay export --to cursor --dry-run\n  $ patchbay export --to vscode -s project',
    )
    .action(
      act(async (flags) => {
        const { parseExportOptions, runExport } = await import('./commands/export.js');
        return runExport(parseExportOptions(flags), io);
      }),
    );

  program
    .command('demo')
    .description('Run the main job end to end against an embedded MCP server, in a throwaway config')
    .action(
      act(async () => {
        const { runDemo } = await import('../demo/run-demo.js');
        return runDemo(io);
      }),
    );

  program
    .command('help')
    .description('Show help for a command or a topic (config, exit-codes)')
    .argument('[topic]', 'a command name, "config" or "exit-codes"')
    .action(
      act((topic: string | undefined) => {
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
      }),
    );

  groupCommands(program);
  return program;
}

/**
 * `--help` lists the commands by job, as gh does, in this order; within a group, in the order
 * they are defined. Every command belongs to exactly one group (a test checks it).
 */
export const COMMAND_GROUPS: ReadonlyArray<readonly [heading: string, commands: readonly string[]]> = [
  [
    'Configure servers:',
    ['add', 'add-json', 'remove', 'import', 'export', 'approve', 'reject', 'reset-project-choices'],
  ],
  ['Check servers:', ['list', 'get', 'doctor']],
  ['Authenticate:', ['login', 'logout', 'auth']],
  ['Use a server:', ['tools', 'tool', 'resources', 'prompts', 'call', 'read', 'prompt']],
  [
    'Control (permissions, limits, audit):',
    ['permit', 'enable', 'disable', 'limit', 'policy', 'review', 'log', 'stats'],
  ],
  ['Serve to hosts:', ['serve', 'connect', 'install', 'uninstall']],
  ['More:', ['ui', 'demo', 'help']],
];

function groupCommands(program: Command): void {
  const rank = new Map<string, number>();
  COMMAND_GROUPS.forEach(([heading, names], index) => {
    for (const name of names) rank.set(name, index);
    for (const command of program.commands) if (names.includes(command.name())) command.helpGroup(heading);
  });
  const commands = program.commands as Command[];
  const order = (command: Command) => rank.get(command.name()) ?? COMMAND_GROUPS.length;
  commands.sort((a, b) => order(a) - order(b));
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, argv, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: Io): number {
  if (error instanceof CommanderError) {
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
    )
      return EXIT.ok;
    // commander has already printed its message.
    writeLine(io.stderr, 'Run `patchbay help <command>` for usage.');
    return EXIT.usage;
  }
  const p = paint(useColor(io));
  if (error instanceof PatchbayError) {
    // Messages and hints quote servers, files and processes; printed through the one sanitizer.
    writeLine(io.stderr, `${p.red('error:')} ${terminalText(error.message, { multiline: true })}`);
    if (error.hint)
      writeLine(io.stderr, `${p.dim('hint:')} ${terminalText(error.hint, { multiline: true })}`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  writeLine(io.stderr, `${p.red('error:')} ${terminalText(message, { multiline: true })}`);
  writeLine(
    io.stderr,
    `${p.dim('hint:')} this is a bug in patchbay; please report it with the command you ran.`,
  );
  if (io.env.PATCHBAY_DEBUG && error instanceof Error && error.stack) writeLine(io.stderr, error.stack);
  return exitCodeOf(error);
}

/**
 * Ctrl-C (or a SIGTERM) ends the stdio servers patchbay started before patchbay itself: they run
 * in their own process groups, out of the terminal's reach. Exit status 128 + signal number.
 */
function exitCleanlyOnSignals(interrupt: AbortController): void {
  const onSignal = (signal: NodeJS.Signals, code: number, graceMs: number) => {
    process.once(signal, () => {
      // A command with a request in flight cancels it (the server is told) and returns by itself;
      // whatever is still running after the grace period is ended here.
      interrupt.abort(new Error(`interrupted by ${signal}`));
      const timer = setTimeout(() => {
        void terminateProcessGroups().finally(() => process.exit(code));
      }, graceMs);
      timer.unref();
    });
  };
  onSignal('SIGINT', EXIT.interrupted, 1_000);
  onSignal('SIGTERM', 143, 0);
  // `patchbay list | head`: the reader left; stop quietly, as other command-line tools do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(EXIT.ok);
      throw error;
    });
  }
}

/**
 * Node 22.1+ can keep the compiled code of the modules a run loads (the MCP SDK, zod, undici) on
 * disk, which takes about 15 % off a one-shot `patchbay call`. The cache is disposable and lives
 * in XDG's cache directory; NODE_COMPILE_CACHE (Node's own variable) wins when set, and
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off. Older Node: nothing happens.
 */
function enableCompileCache(): void {
  const enable = (module as { enableCompileCache?: (directory?: string) => unknown }).enableCompileCache;
  if (!enable || process.env.NODE_COMPILE_CACHE) return;
  try {
    enable(resolvePaths(process.env).compileCache);
  } catch {
    // A cache that cannot be written is only slower.
  }
}

/** Commands that keep running and parsing HTTP responses, for which optimised code pays off. */
const LONG_RUNNING = new Set(['serve', 'connect', 'ui', 'demo']);

/**
 * HTTP responses are parsed by undici's llhttp, which is WebAssembly: V8 compiles it quickly
 * (Liftoff), then again, optimised (TurboFan), on background threads, and node waits for those
 * compilations to finish before it exits. For a one-shot command that parsed a few responses that
 * was 50–150 ms after the output (more on a busy machine) and CPU the checks needed. The flag must
 * be set before the first compilation, which happens on the first request; Node 20 to 24 know it.
 */
function keepWasmOnBaselineTier(argv: string[]): void {
  if (!LONG_RUNNING.has(argv[0] ?? '')) setFlagsFromString('--liftoff-only');
}

/**
 * stdout carries data (tables, --json) and nothing else; a library's console output must not land
 * in it (the MCP SDK logs with console.debug, which Node writes to stdout). Debug output is
 * dropped unless PATCHBAY_DEBUG is set; log and info go to stderr.
 */
function keepStdoutForData(): void {
  const toStderr = (...args: unknown[]) => process.stderr.write(`${format(...args)}\n`);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = process.env.PATCHBAY_DEBUG ? toStderr : () => undefined;
}

// Run when executed as the `patchbay` binary (through npm's symlink too), not when imported by tests.
const entryPath = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (entryPath === fileURLToPath(import.meta.url)) {
  enableCompileCache();
  keepWasmOnBaselineTier(process.argv.slice(2));
  const interrupt = new AbortController();
  exitCleanlyOnSignals(interrupt);
  keepStdoutForData();
  // exitCode, not exit(): let stdout drain so piped output is never cut.
  process.exitCode = await main(process.argv.slice(2), processIo(interrupt.signal));
  // Ctrl-C may have left stdio servers behind a command that returned early.
  if (interrupt.signal.aborted) await terminateProcessGroups();
}
