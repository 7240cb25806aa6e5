import { Option } from 'commander';
import type { DefineCommand } from '../define.js';
import { collect, forceOption, scopeOption } from '../options.js';

export const addCommand: DefineCommand = (program, { io, argv, act }) =>
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
    .addOption(
      scopeOption('local (you, this project), project (.mcp.json) or user (you, all projects)', 'local'),
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
    .option(
      '--client-key <path>',
      "with --client-cert: the certificate's PEM key (mutual TLS); alone, with --client-id: the OAuth client's private key (PEM or JWK) for private_key_jwt, stored privately",
    )
    .option('--oauth-client-key <path>', "the OAuth client's private key when --client-key is the TLS one")
    .addOption(
      new Option(
        '--grant <grant>',
        'how a login gets a token: authorization_code (a browser), client_credentials (this machine), cross_app_access (your IdP); default: from the flags and the server',
      ).choices(['authorization_code', 'client_credentials', 'cross_app_access']),
    )
    .addOption(
      new Option(
        '--client-auth <method>',
        'how the client authenticates at the token endpoint (default: what the server lists)',
      ).choices(['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
    )
    .option('--idp-issuer <url>', "cross-app access: your organisation's identity provider (issuer URL)")
    .option('--idp-client-id <id>', "cross-app access: patchbay's client ID at the identity provider")
    .option(
      '--idp-client-secret',
      "cross-app access: ask for that client's secret (or read PATCHBAY_IDP_CLIENT_SECRET); stored privately",
    )
    .option(
      '--id-token-file <path>',
      'cross-app access: a file holding the ID token from the identity provider, read at each login and renewal',
    )
    .option('--id-token-env <VAR>', 'cross-app access: an environment variable holding that ID token')
    // Not timeoutOption(): this one is written into the entry, not a limit on this run.
    .option(
      '--timeout <duration>',
      "this server's timeout in every command (30s, 2m, 500ms; a bare number is seconds)",
    )
    .addOption(forceOption('replace an existing entry of the same name in that scope'))
    .option(
      '--from-registry <server[@version]>',
      'take the URL or command from an MCP Registry server.json (newest version unless @version)',
    )
    .option(
      '--registry <url>',
      'with --from-registry: the registry (default PATCHBAY_REGISTRY_URL, else the official one)',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ patchbay add notion https://mcp.notion.com/mcp
  $ patchbay add -t sse legacy https://example.com/sse
  $ patchbay add -s project -H "X-Api-Key: \${API_KEY}" api https://api.example.com/mcp
  $ patchbay add --client-id my-app --callback-port 8080 corp https://mcp.corp.example/mcp
  $ MCP_CLIENT_SECRET=… patchbay add --client-id ci-bot --client-secret build https://mcp.corp.example/mcp
  $ patchbay add --client-id ci-bot --client-key bot-key.pem build https://mcp.corp.example/mcp
  $ MCP_CLIENT_SECRET=… patchbay add --client-id app --client-secret --idp-issuer https://acme.okta.com --idp-client-id mcp-agent --id-token-file ~/.acme/id-token corp https://mcp.corp.example/mcp
  $ patchbay add --ca-file /etc/ssl/corp-ca.pem intranet https://mcp.intranet.example/mcp
  $ patchbay add -e ROOT=\${HOME}/src files -- npx -y @modelcontextprotocol/server-filesystem /tmp
  $ patchbay add weather --from-registry io.github.acme-labs/weather@1.3.0 -e OPENWEATHER_API_KEY=\${OPENWEATHER_API_KEY}`,
    )
    .action(
      act(async (name: string, operands: string[], flags) => {
        if (flags.fromRegistry !== undefined) {
          const { parseAddFromRegistryOptions, runAddFromRegistry } = await import('./add-from-registry.js');
          return runAddFromRegistry(parseAddFromRegistryOptions(name, operands, flags), io);
        }
        const { parseAddOptions, runAdd } = await import('./add.js');
        return runAdd(parseAddOptions(name, operands, flags, argv.includes('--')), io);
      }),
    );
