/**
 * Trying a server from its page: call a tool, read a resource, run a prompt.
 *
 * A call goes through the same policy as `patchbay call` and the gateway: a denied tool is refused
 * (403, with the reason); one set to ask answers `needs-approval` until the page sends it again
 * with `approved: true` (the person's yes); then the limits are counted; and every call that was
 * decided on is written to the audit log, as `via: console`, host `patchbay ui`.
 */

import { checkPromptArguments } from '../../connect/prompt-arguments.js';
import { PatchbayError } from '../../errors.js';
import { completeArgument } from '../../use/complete.js';
import { guardedSessionCall, type CallResult } from '../../use/guarded-call.js';
import type { TaskInfo } from '../../use/tasks.js';
import { consoleTasks, taskError, view } from '../tasks.js';
import type {
  CallOutcome,
  CompletionOutcome,
  CompletionRequest,
  ContentBlock,
  PromptOutcome,
  ReadOutcome,
} from '../api-types.js';
import type { ConsoleContext } from '../context.js';
import { badField, json, objectBody, optionalObject, stringField, type JsonBody } from '../http.js';
import { withServer } from '../open.js';
import type { Route } from '../router.js';

const HOST = 'patchbay ui';

export const useRoutes: Route[] = [
  {
    method: 'POST',
    path: '/api/servers/:name/call',
    handler: async ({ ctx, params, body }) => {
      const request = objectBody(await body());
      const tool = stringField(request, 'tool');
      const args = optionalObject(request, 'arguments') ?? {};
      const approved = Object.hasOwn(request, 'approved') ? request.approved : undefined;
      if (approved !== undefined && typeof approved !== 'boolean')
        throw badField('approved', 'true or false');
      return json(200, await callTool(ctx, params.name!, tool, args, approved === true));
    },
  },
  {
    method: 'POST',
    path: '/api/servers/:name/read',
    handler: async ({ ctx, params, body }) => {
      const uri = stringField(objectBody(await body()), 'uri');
      const outcome = await withServer(ctx, params.name!, async (session) => {
        const result = await session.request((client) =>
          client.readResource({ uri }, session.requestOptions()),
        );
        const contents: ReadOutcome['contents'] = result.contents.map((content) => ({
          uri: content.uri,
          mimeType: content.mimeType ?? null,
          ...('text' in content && typeof content.text === 'string' ? { text: content.text } : {}),
          ...('blob' in content && typeof content.blob === 'string' ? { blob: content.blob } : {}),
        }));
        return { contents };
      });
      return json(200, outcome satisfies ReadOutcome);
    },
  },
  {
    method: 'POST',
    path: '/api/servers/:name/prompt',
    handler: async ({ ctx, params, body }) => {
      const request = objectBody(await body());
      const prompt = stringField(request, 'prompt');
      const given = optionalObject(request, 'arguments') ?? {};
      const args: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [key, value] of Object.entries(given)) {
        if (typeof value !== 'string') throw badField(`argument ${JSON.stringify(key)}`, 'a string');
        args[key] = value;
      }
      return json(200, await runPrompt(ctx, params.name!, prompt, args));
    },
  },
  {
    method: 'POST',
    path: '/api/servers/:name/complete',
    handler: async ({ ctx, params, body }) => json(200, await complete(ctx, params.name!, await body())),
  },
];

/**
 * `completion/complete` through the server (use/complete.ts, the job `patchbay complete` and the
 * shell use too): what a prompt argument or a template variable may be, given what is typed so
 * far (and the other values filled in). Asked on each pause in typing, so nothing is listed first.
 */
async function complete(ctx: ConsoleContext, name: string, body: unknown): Promise<CompletionOutcome> {
  const request = completionRequest(objectBody(body));
  return withServer(ctx, name, async (session): Promise<CompletionOutcome> => {
    const { values, hasMore, supported } = await completeArgument(session, request);
    return { values, hasMore, supported };
  });
}

function completionRequest(body: JsonBody): CompletionRequest {
  const ref = optionalObject(body, 'ref');
  const argument = optionalObject(body, 'argument');
  if (!ref) throw badField('ref', '{ type: "prompt", name } or { type: "template", uri }');
  if (!argument) throw badField('argument', '{ name, value }');
  const type = stringField(ref, 'type');
  const value = Object.hasOwn(argument, 'value') ? argument.value : undefined;
  if (typeof value !== 'string') throw badField('argument.value', 'a string');
  const request: CompletionRequest = {
    ref:
      type === 'prompt'
        ? { type: 'prompt', name: stringField(ref, 'name') }
        : type === 'template'
          ? { type: 'template', uri: stringField(ref, 'uri') }
          : (() => {
              throw badField('ref.type', '"prompt" or "template"');
            })(),
    argument: { name: stringField(argument, 'name'), value },
  };
  const context = optionalObject(body, 'context');
  if (context) {
    const values: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [key, given] of Object.entries(context)) {
      if (typeof given !== 'string') throw badField(`context ${JSON.stringify(key)}`, 'a string');
      values[key] = given;
    }
    request.context = values;
  }
  return request;
}

/**
 * A tool whose execution requires a task is run as one (use/tasks.ts), inside the same guarded
 * call: the answer is `status: "task"` as soon as the task exists, and the rest of the run (its
 * status, its result, written to the audit log as any call's) goes on with its session open,
 * followed by the page at GET /api/servers/:name/tasks/:id (routes/tasks.ts).
 */
async function callTool(
  ctx: ConsoleContext,
  name: string,
  toolName: string,
  args: Record<string, unknown>,
  approved: boolean,
): Promise<CallOutcome> {
  let created: (task: TaskInfo) => void = () => undefined;
  const taskCreated = new Promise<TaskInfo>((resolve) => (created = resolve));
  const running = withServer(ctx, name, async (session, opened) => {
    const tasks = await import('../../use/tasks.js');
    let asTask = false;
    const outcome = await guardedSessionCall(
      session,
      opened,
      {
        toolName,
        args: (tool) => {
          asTask =
            tasks.serverDecidesTasks(session) ||
            tasks.taskSupportOf(tool as { execution?: { taskSupport?: unknown } }) === 'required';
          return args;
        },
        send: (request) =>
          asTask
            ? tasks.runToolTask(session, request, {
                onCreated: (task) => {
                  consoleTasks.started(name, toolName, task, () => tasks.cancelTask(session, task.taskId));
                  created(task);
                },
                onStatus: (task) => consoleTasks.moved(name, task),
              })
            : (session.request((client) =>
                client.callTool(request, session.requestOptions()),
              ) as Promise<CallResult>),
        // The one check `patchbay call` makes too (connect/tool-arguments.ts), in the same words.
        check: { allowUnknown: false },
        notFoundHint: "The connector's page lists its tools.",
        onWarning: ctx.log,
      },
      {
        via: 'console',
        host: HOST,
        logArguments: false,
        // The page shows the question; the person's yes comes as a second request.
        ask: async () => (approved ? 'once' : 'later'),
        allowAlways: async () => undefined,
        onAuditError: (failure) => ctx.log(`Not logged: ${String(failure)}`),
      },
    );
    if (outcome.kind === 'later')
      return { status: 'needs-approval', because: outcome.because, content: [] } satisfies CallOutcome;
    if (outcome.kind === 'refused')
      throw new PatchbayError(outcome.code, outcome.message, {
        hint:
          outcome.code === 'policy-denied'
            ? `To allow it, set the tool to "Always allow" (${outcome.hint.replace(/^To allow it: /, '')}).`
            : outcome.hint,
      });
    const result = outcome.result as {
      content?: ContentBlock[];
      structuredContent?: unknown;
      isError?: boolean;
    };
    return {
      status: result.isError ? 'tool-error' : 'ok',
      content: result.content ?? [],
      ...(result.structuredContent !== undefined ? { structuredContent: result.structuredContent } : {}),
    } satisfies CallOutcome;
  });
  const first = await Promise.race([
    running.then((outcome) => ({ outcome })),
    taskCreated.then((task) => ({ task })),
  ]);
  if ('outcome' in first) return first.outcome;
  const { taskId } = first.task;
  running.then(
    (outcome) => consoleTasks.ended(name, taskId, { outcome }),
    (error: unknown) => consoleTasks.ended(name, taskId, { error: taskError(error) }),
  );
  return { status: 'task', content: [], task: view(first.task) };
}

async function runPrompt(
  ctx: ConsoleContext,
  name: string,
  promptName: string,
  args: Record<string, string>,
): Promise<PromptOutcome> {
  return withServer(ctx, name, async (session) => {
    const { prompts } = await session.request((client) =>
      client.listPrompts(undefined, session.requestOptions()),
    );
    const declared = prompts.find((candidate) => candidate.name === promptName);
    if (!declared)
      throw new PatchbayError('not-found', `${name} has no prompt named ${JSON.stringify(promptName)}.`, {
        hint: "The connector's page lists its prompts.",
      });
    checkPromptArguments(declared, args);
    const result = await session.request((client) =>
      client.getPrompt({ name: promptName, arguments: args }, session.requestOptions()),
    );
    return {
      description: result.description ?? null,
      messages: result.messages.map((message) => ({
        role: message.role,
        content: message.content as ContentBlock,
      })),
    };
  });
}
