import type { DefineCommand } from '../define.js';
import { logArgumentsOption, timeoutOption } from '../options.js';

export const serveCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('serve')
    .description(
      'Serve every configured server as one MCP server, over stdio or Streamable HTTP (the gateway)',
    )
    .option('--http [[host:]port]', `speak Streamable HTTP at http://host:port/mcp (default 127.0.0.1:7431)`)
    .option('--servers <names>', 'serve only these servers (comma-separated)')
    .option('--config <file>', 'a team deployment file: sign-in, public URL, TLS, vault (see README)')
    .option('--print-token', 'print the bearer token HTTP hosts must send, and exit')
    .option(
      '--dangerously-expose',
      'allow --http on an address other machines can reach (a token is still required)',
    )
    .option('--dangerously-no-auth', 'accept HTTP requests without the token (loopback only)')
    .addOption(timeoutOption('per-server connect timeout'))
    .addOption(logArgumentsOption("each call's"))
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
    .option(
      '--tls-cert <file>',
      'HTTP: serve https with this PEM certificate (chain); reloaded when it changes',
    )
    .option('--tls-key <file>', "HTTP: the certificate's PEM private key")
    .option(
      '--trust-proxy <addresses>',
      'HTTP: believe X-Forwarded-For/-Proto/-Host only from these addresses or CIDR ranges (comma-separated)',
    )
    .option(
      '--public-url <url>',
      'HTTP: the URL hosts use to reach this gateway (a load balancer in front of replicas), without /mcp',
    )
    .option(
      '--drain-timeout <duration>',
      'HTTP: on SIGTERM, time the calls in flight get to finish before the gateway exits (default 30s)',
    )
    .option(
      '--metrics-public',
      'HTTP: serve GET /metrics without the bearer token (for a scraper on a private network)',
    )
    .option('--log-format <format>', 'text (default) or json: one JSON object per line on stderr')
    .option(
      '--state <url>',
      "HTTP: keep the gateway's state (limit counts, keys, vault, sign-ins, the audit log) in Redis for replicas: redis://host:6379, rediss://… (TLS), redis+sentinel://host:26379,host:26380/<master-name>, redis+cluster://host:7000,host:7001; default: files on this machine",
    )
    .option(
      '--audit-max-lines <n>',
      'HTTP, with --state redis://…: the shared audit stream keeps about this many lines, the oldest trimmed (default 1000000)',
    )
    .addHelpText(
      'after',
      `
Tools and prompts are named <server>__<name> (long or colliding names get a short hash); resource
URIs are kept. A server that is down or needs a login stays listed, and calling it says why.

Examples:
  $ claude mcp add patchbay -- patchbay serve
  $ patchbay serve --http 7431
  $ patchbay serve --print-token
  $ patchbay serve --config /etc/patchbay/gateway.jsonc
  $ patchbay serve --config gateway.jsonc --state redis://10.0.0.5:6379
  $ patchbay serve --http 0.0.0.0:8443 --dangerously-expose --tls-cert cert.pem --tls-key key.pem

Every HTTP gateway answers GET /healthz (200 while the process is up) and GET /readyz (200 when
it may be sent requests; 503 with a JSON list of what is not ready, and at once on SIGTERM), and
GET /metrics (Prometheus; with the same bearer token as /mcp unless --metrics-public).

Redis behind Sentinel is named by the sentinels and the master's name (the password, if any, is
the data nodes'); a Cluster by any of its nodes. On a Cluster, records and bus channels spread
over every master, and the limit counters share one hash slot ({limits}), so one master counts
every limit.

Trace export (OpenTelemetry, OTLP/HTTP JSON): set OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SERVICE_NAME, default patchbay-gateway), or "telemetry":
{ "otlp": "https://collector:4318" } in the --config file. One span per relayed call, a child of
the host's traceparent; it names the server, the tool, the member's subject, never arguments.`,
    )
    .action(
      act(async (flags) => {
        const { parseServeOptions, runServe } = await import('./serve.js');
        return runServe(parseServeOptions(flags, io.env), io);
      }),
    );

export const connectCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('connect')
    .description(
      'Serve one configured server over stdio, under its own names (a bridge for stdio-only hosts)',
    )
    .argument('<name>', 'server name')
    .addOption(timeoutOption('connect timeout'))
    .addOption(logArgumentsOption("each call's"))
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
        const { parseConnectOptions, runServe } = await import('./serve.js');
        return runServe(parseConnectOptions(name, flags, io.env), io);
      }),
    );
