/**
 * What every verb of the shell is given: the one open session, the options the shell was started
 * with, the server's names (for Tab, fetched once and again after a list change), and how a
 * result is given back (printed as the one-shot command prints it, or one JSON line with --json).
 */

import type { Session } from '../../connect/session.js';
import { terminalJson } from '../../core/terminal-text.js';
import type { PromptInfo, ResourceInfo, TemplateInfo } from '../commands/catalog.js';
import type { ToolInfo } from '../commands/tools.js';
import { writeLine, type Io } from '../io.js';
import type { QuestionSource } from '../questions.js';
import type { ServerRequestOptions } from '../server-requests.js';
import type { OpenedServer } from '../server-session.js';

export interface ShellOptions {
  name: string;
  /** Results and notifications as JSON lines on stdout, each tagged with its `kind`. */
  json: boolean;
  timeoutMs: number;
  requests: ServerRequestOptions;
  /** --yes: tools set to ask are approved without asking. */
  yes: boolean;
  logArguments: boolean;
  /** Sent once connected (logging/setLevel). */
  logLevel: string | undefined;
  /** Stop at the first command that fails, with its status (scripts). */
  exitOnError: boolean;
  /** Keep history on disk (on a terminal only). */
  history: boolean;
}

export interface ShellContext {
  readonly options: ShellOptions;
  readonly session: Session;
  readonly opened: OpenedServer;
  /** The io of the command running: its interrupt is that command's Ctrl-C. */
  readonly io: Io;
  /** Where questions are asked (the shell's own line editor on a terminal). */
  readonly questions: QuestionSource | undefined;
  readonly names: Names;
  /** The resources subscribed to, and how to end each subscription. */
  readonly subscriptions: Map<string, () => Promise<void>>;
  /** With --json: one line on stdout, `{"kind": "result", "command": …, "value": …}`. */
  result(command: string, value: unknown): void;
}

/** The server's names as last listed, for Tab; each list fetched on first need. */
export class Names {
  private tools: Promise<ToolInfo[]> | undefined;
  private prompts: Promise<PromptInfo[]> | undefined;
  private catalog: Promise<{ resources: ResourceInfo[]; templates: TemplateInfo[] }> | undefined;
  /** Resource links the server returned in this session (readable here, often nowhere else). */
  readonly links = new Set<string>();

  constructor(
    private readonly session: Session,
    private readonly io: Io,
    private readonly server: string,
  ) {}

  /** A list changed (notifications/…/list_changed): fetched again on next need. */
  forget(list: 'tools' | 'prompts' | 'resources'): void {
    if (list === 'tools') this.tools = undefined;
    else if (list === 'prompts') this.prompts = undefined;
    else this.catalog = undefined;
  }

  toolList(): Promise<ToolInfo[]> {
    this.tools ??= import('../commands/tools.js').then(({ toolsOnSession }) =>
      toolsOnSession(this.session, this.server, this.io),
    );
    return this.remember(this.tools, () => (this.tools = undefined));
  }

  promptList(): Promise<PromptInfo[]> {
    this.prompts ??= import('../commands/catalog.js').then(({ promptsOnSession }) =>
      promptsOnSession(this.session),
    );
    return this.remember(this.prompts, () => (this.prompts = undefined));
  }

  resourceCatalog(): Promise<{ resources: ResourceInfo[]; templates: TemplateInfo[] }> {
    this.catalog ??= import('../commands/catalog.js').then(({ resourcesOnSession }) =>
      resourcesOnSession(this.session),
    );
    return this.remember(this.catalog, () => (this.catalog = undefined));
  }

  /** Seen fresh by a verb (tools, prompts, resources): kept for Tab. */
  set(list: 'tools', value: ToolInfo[]): void;
  set(list: 'prompts', value: PromptInfo[]): void;
  set(list: 'resources', value: { resources: ResourceInfo[]; templates: TemplateInfo[] }): void;
  set(list: 'tools' | 'prompts' | 'resources', value: unknown): void {
    if (list === 'tools') this.tools = Promise.resolve(value as ToolInfo[]);
    else if (list === 'prompts') this.prompts = Promise.resolve(value as PromptInfo[]);
    else this.catalog = Promise.resolve(value as { resources: ResourceInfo[]; templates: TemplateInfo[] });
  }

  /** A failed listing is not kept: asked again next time. */
  private remember<T>(list: Promise<T>, drop: () => void): Promise<T> {
    list.catch(drop);
    return list;
  }
}

/** With --json every line on stdout is one JSON object tagged with its kind. */
export function jsonLine(io: Io, kind: string, fields: Record<string, unknown>): void {
  writeLine(io.stdout, terminalJson({ kind, ...fields }, 0));
}
