/**
 * OpenTelemetry trace export of an HTTP gateway, when configured: one span per relayed call
 * (`tools/call`, `resources/read`, `prompts/get`, whichever path relayed it), exported over
 * OTLP/HTTP (JSON) to a collector.
 *
 * - Configured by the standard environment (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as given,
 *   or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; `OTEL_SERVICE_NAME`, default
 *   `patchbay-gateway`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off), else
 *   by a deployment file's `"telemetry": { "otlp": "https://collector:4318" }`. The environment
 *   wins: it is the operator's, per process.
 * - Not configured: nothing of the SDK is loaded, and the paths pay one check per call.
 * - The span is made where the call's audit entry is recorded (an observer of the policy gate,
 *   like the metrics), so each call is one span whichever path relayed it, with the entry's start
 *   and duration. Its parent is the host's `traceparent`, when it sent one: the paths run each
 *   call `within` that context. The upstream is sent the host's traceparent as it came
 *   (trace-context.ts), so the gateway's span and the upstream's are siblings in the host's trace.
 *   A host's unsampled flag is honoured (the SDK's default sampler, parent-based, always on for
 *   a root; `OTEL_TRACES_SAMPLER` changes it): such a call exports nothing.
 * - What a span says, with privacy in mind: the server, the tool (prompt name, resource URI), the
 *   member's subject (the IdP's opaque id or the API key's owner — never their email, groups,
 *   address, session or credential), the decision and outcome, the byte counts. Never arguments or
 *   results; an error's text masked as the audit log masks it.
 * - Spans are batched (the SDK's BatchSpanProcessor: a bounded queue of 2048 that drops beyond it,
 *   batches of 512 every 5 s; `OTEL_BSP_*` tune it) and flushed when the gateway stops, after the
 *   drain, for at most 5 s (a collector that is away does not hold the exit). A collector that
 *   refuses spans, or stays away past the exporter's own retries, is said once on stderr, and
 *   again only after an export went through.
 */

import { AsyncLocalStorage } from 'node:async_hooks';

import type { Span } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

import { maskSecretsInText } from '../core/redact.js';
import type { TraceContext } from '../core/trace-context.js';
import { PatchbayError } from '../errors.js';
import type { AuditEntry, CallObserver } from '../policy/audit.js';

export const DEFAULT_SERVICE_NAME = 'patchbay-gateway';
/** An error's text on a span is cut here (the audit log keeps more). */
const MAX_ERROR_CHARS = 500;
/** Stopping waits this long for the last spans to leave; a collector that hangs does not hold the exit. */
const SHUTDOWN_MS = 5_000;

export interface TelemetryConfig {
  /** Where spans are POSTed (OTLP/HTTP, JSON). */
  tracesUrl: string;
  serviceName: string;
}

/** What the gateway's paths and its stop see of the export (none of it loads the SDK). */
export interface CallTracing {
  /** Run one relayed call with the host's trace context, so its span is the host span's child. */
  within<T>(trace: TraceContext | undefined, run: () => T): T;
  /** The audit observer: one entry, one span. */
  readonly observe: CallObserver;
  /** Export what is queued and stop. */
  shutdown(): Promise<void>;
}

/**
 * Whether trace export is configured, and where to: the environment first, then the deployment
 * file's `telemetry.otlp` (a base URL, like OTEL_EXPORTER_OTLP_ENDPOINT).
 */
export function telemetryConfig(
  env: NodeJS.ProcessEnv,
  deployment?: { telemetry?: { otlp: URL } },
): TelemetryConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || deployment?.telemetry?.otlp.href;
  const tracesUrl = traces || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!tracesUrl) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(tracesUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new PatchbayError(
      'usage',
      `The OpenTelemetry endpoint ${JSON.stringify(tracesUrl)} is not an http(s) URL.`,
      {
        hint: "Set OTEL_EXPORTER_OTLP_ENDPOINT to the collector's OTLP/HTTP base URL (e.g. http://127.0.0.1:4318), or unset it.",
      },
    );
  return { tracesUrl: url.href, serviceName: env.OTEL_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME };
}

/** The export, its SDK loaded now (only ever called when configured). */
export async function startTelemetry(
  config: TelemetryConfig,
  version: string,
  onWarning: (message: string) => void,
): Promise<CallTracing> {
  const [api, sdk, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new OTLPTraceExporter({ url: config.tracesUrl });
  let failing = false;
  // The exporter's own failures go to OpenTelemetry's diag logger, which is silent: said here.
  const said: SpanExporter = {
    export: (spans, done) =>
      exporter.export(spans, (result) => {
        if (result.code !== 0 && !failing)
          onWarning(
            `OpenTelemetry: spans could not be exported to ${config.tracesUrl} (${result.error?.message ?? 'refused'}); they are dropped until the collector answers.`,
          );
        failing = result.code !== 0;
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': version }),
    spanProcessors: [new sdk.BatchSpanProcessor(said)],
  });
  const tracer = provider.getTracer('patchbay', version);
  const hostTrace = new AsyncLocalStorage<TraceContext | undefined>();

  const parentOf = (trace: TraceContext | undefined) => {
    if (!trace) return api.ROOT_CONTEXT;
    const [, traceId, spanId, flags] = trace.traceparent.split('-');
    return api.trace.setSpanContext(api.ROOT_CONTEXT, {
      traceId: traceId!,
      spanId: spanId!,
      traceFlags: parseInt(flags!, 16) & api.TraceFlags.SAMPLED,
      isRemote: true,
      ...(trace.tracestate ? { traceState: api.createTraceState(trace.tracestate) } : {}),
    });
  };

  const observe: CallObserver = (entry) => {
    const start = Date.parse(entry.time);
    const span = tracer.startSpan(
      spanName(entry),
      { kind: api.SpanKind.SERVER, startTime: start, attributes: spanAttributes(entry) },
      parentOf(hostTrace.getStore()),
    );
    setStatus(span, entry, api.SpanStatusCode.ERROR);
    span.end(start + entry.durationMs);
  };

  return {
    within: (trace, run) => hostTrace.run(trace, run),
    observe,
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        provider.shutdown().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_MS).unref())),
      ]);
      clearTimeout(timer);
    },
  };
}

const METHODS = { tool: 'tools/call', prompt: 'prompts/get', resource: 'resources/read' } as const;

/** MCP's semantic conventions: `{method} {target}`; a resource's URI is no part of a name (unbounded). */
function spanName(entry: AuditEntry): string {
  const kind = entry.kind ?? 'tool';
  return kind === 'resource' ? METHODS.resource : `${METHODS[kind]} ${entry.tool}`;
}

/** What a call's span says: see the module's comment for what it never says. */
export function spanAttributes(entry: AuditEntry): Record<string, string | number> {
  const kind = entry.kind ?? 'tool';
  const target =
    kind === 'tool' ? 'gen_ai.tool.name' : kind === 'prompt' ? 'gen_ai.prompt.name' : 'mcp.resource.uri';
  return {
    'mcp.method.name': METHODS[kind],
    [target]: entry.tool,
    'patchbay.server': entry.server,
    ...(entry.caller?.subject ? { 'patchbay.member.subject': entry.caller.subject } : {}),
    ...(entry.caller ? { 'patchbay.auth': entry.caller.auth } : {}),
    'patchbay.decision': entry.decision,
    'patchbay.outcome': outcomeOf(entry),
    'patchbay.argument_bytes': entry.argumentBytes,
    'patchbay.result_bytes': entry.resultBytes,
  };
}

/** ok, isError (the tool answered with an error), error (no answer), denied, limited. */
export function outcomeOf(entry: AuditEntry): string {
  if (entry.decision === 'denied' || entry.decision === 'limited') return entry.decision;
  if (entry.outcome === 'refused') return 'denied';
  return entry.outcome === 'tool-error' ? 'isError' : entry.outcome;
}

/** A failed call is an error span (no answer, or the tool's isError); a refusal is not a failure. */
function setStatus(span: Span, entry: AuditEntry, error: number): void {
  if (entry.outcome !== 'error' && entry.outcome !== 'tool-error') return;
  const text =
    entry.error === undefined ? undefined : maskSecretsInText(entry.error.slice(0, MAX_ERROR_CHARS));
  span.setStatus({ code: error, ...(text ? { message: text } : {}) });
  span.setAttribute('error.type', entry.outcome === 'tool-error' ? 'tool_error' : 'error');
}
