import { useState } from 'preact/hooks';
import { api, toApiError, type ApiError } from '../api';
import type { Decision, GroupView, ToolGroup, ToolView } from '../types';
import { LimitsEditor } from './limits';
import { TryTool } from './try-tool';
import { Chip, ErrorNotice } from './ui';

const DECISIONS: Array<{ decision: Decision; label: string }> = [
  { decision: 'allow', label: 'Always allow' },
  { decision: 'ask', label: 'Needs approval' },
  { decision: 'deny', label: 'Blocked' },
];

const ANNOTATIONS: Array<{ key: string; label: string; tone?: 'warn' | 'danger' | 'info' | 'ok' }> = [
  { key: 'readOnlyHint', label: 'Read-only', tone: 'ok' },
  { key: 'destructiveHint', label: 'Destructive', tone: 'danger' },
  { key: 'idempotentHint', label: 'Idempotent', tone: 'info' },
  { key: 'openWorldHint', label: 'Open world', tone: 'warn' },
];

/** Allow / Needs approval / Blocked as one segmented control: a tool's, or a group's. */
function DecisionButtons(props: {
  label: string;
  shown: Decision | null;
  busy: boolean;
  choose: (decision: Decision) => unknown;
  testid: (decision: Decision) => string;
}) {
  return (
    <div class="segmented" role="group" aria-label={props.label}>
      {DECISIONS.map(({ decision, label }) => (
        <button
          key={decision}
          type="button"
          class={`segment segment-${decision}`}
          aria-pressed={props.shown === decision}
          disabled={props.busy}
          onClick={() => void props.choose(decision)}
          data-testid={props.testid(decision)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

export function AnnotationChips({ annotations }: { annotations: Record<string, unknown> | null }) {
  if (!annotations) return null;
  // Only hints the server states as true: an absent hint is not a claim either way.
  const shown = ANNOTATIONS.filter(({ key }) => annotations[key] === true);
  if (shown.length === 0) return null;
  return (
    <p class="chips" aria-label="Annotations">
      {shown.map(({ key, label, tone }) => (
        <Chip key={key} tone={tone}>
          {label}
        </Chip>
      ))}
    </p>
  );
}

function PermissionControl({
  server,
  tool,
  onSaved,
}: {
  server: string;
  tool: ToolView;
  onSaved: () => Promise<void>;
}) {
  const [pending, setPending] = useState<Decision | 'default' | null>(null);
  const [requested, setRequested] = useState<Decision | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  const choose = async (decision: Decision | 'default') => {
    if (pending) return;
    setPending(decision);
    setError(null);
    try {
      if (decision === 'default') {
        // Every rule naming exactly this tool goes, whichever file holds it; globs stay.
        for (const rule of tool.ownRules) await api.setPermission(server, tool.name, 'default', rule.scope);
        setRequested(null);
      } else {
        await api.setPermission(server, tool.name, decision);
        setRequested(decision);
      }
      await onSaved();
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setPending(null);
    }
  };

  const overruled = requested !== null && requested !== tool.decision && pending === null;
  const shown = pending === 'default' ? null : (pending ?? tool.decision);

  return (
    <div class="permission">
      <DecisionButtons
        label={`Permission for ${tool.name}`}
        shown={shown}
        busy={pending !== null}
        choose={choose}
        testid={(decision) => `permission-${tool.name}-${decision}`}
      />
      <p class="because" data-testid={`because-${tool.name}`}>
        {tool.because}
      </p>
      {tool.ownRules.length > 0 ? (
        <button
          type="button"
          class="link-button"
          disabled={pending !== null}
          onClick={() => void choose('default')}
          data-testid={`permission-${tool.name}-default`}
        >
          Back to default
        </button>
      ) : null}
      {overruled ? (
        <p class="notice notice-warn notice-inline" role="status">
          Saved, but a stricter rule elsewhere still decides: {tool.because}
        </p>
      ) : null}
      <ErrorNotice error={error} />
    </div>
  );
}

function ToolItem({
  server,
  tool,
  onSaved,
}: {
  server: string;
  tool: ToolView;
  onSaved: () => Promise<void>;
}) {
  const heading = tool.title && tool.title !== tool.name ? tool.title : tool.name;
  return (
    <li class="card tool" data-testid={`tool-${tool.name}`}>
      <div class="tool-head">
        <div class="tool-text">
          <h3 class="tool-name">
            {heading}
            {heading !== tool.name ? <span class="muted mono tool-id"> {tool.name}</span> : null}
          </h3>
          {tool.changed ? (
            <p>
              <Chip tone="warn">Changed since first allowed</Chip>
            </p>
          ) : null}
          {tool.description ? <p class="description">{tool.description}</p> : null}
          <AnnotationChips annotations={tool.annotations} />
        </div>
        <PermissionControl server={server} tool={tool} onSaved={onSaved} />
      </div>
      <details class="subsection">
        <summary data-testid={`limits-open-${tool.name}`}>
          Limits{tool.limits.length > 0 ? ` (${tool.limits.map((limit) => limit.limit).join(', ')})` : ''}
        </summary>
        <LimitsEditor
          server={server}
          pattern={tool.name}
          limits={tool.limits}
          onSaved={onSaved}
          testid={`limits-${tool.name}`}
        />
      </details>
      <details class="subsection">
        <summary data-testid={`try-open-${tool.name}`}>Try it</summary>
        <TryTool server={server} tool={tool} />
      </details>
    </li>
  );
}

const GROUP_LABELS: Record<ToolGroup, { title: string; about: string }> = {
  'read-only': { title: 'Read-only tools', about: 'Tools the server marks read-only.' },
  other: { title: 'Other tools', about: 'Every other tool: ones that may write, delete or reach out.' },
};

function GroupRow({
  server,
  view,
  count,
  onSaved,
}: {
  server: string;
  view: GroupView;
  count: number;
  onSaved: () => Promise<void>;
}) {
  const [pending, setPending] = useState<Decision | 'default' | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const label = GROUP_LABELS[view.group];
  const choose = async (decision: Decision | 'default') => {
    setPending(decision);
    setError(null);
    try {
      if (decision === 'default')
        for (const setting of view.settings) await api.setGroup(server, view.group, 'default', setting.scope);
      else await api.setGroup(server, view.group, decision);
      await onSaved();
    } catch (failure) {
      setError(toApiError(failure));
    } finally {
      setPending(null);
    }
  };
  const shown = pending === 'default' ? null : (pending ?? view.decision);
  const where = view.settings.map((setting) => `${setting.decision} in ${setting.scope}`).join(', ');
  return (
    <li class="group-row" data-testid={`group-${view.group}`}>
      <div>
        <h3 class="tool-name">
          {label.title} <span class="muted">· {count}</span>
        </h3>
        <p class="muted">
          {label.about}{' '}
          {view.decision === null
            ? 'Not set: each tool follows its own setting, else its annotations.'
            : `Set: ${where}. A tool's own setting still wins.`}
        </p>
      </div>
      <div class="permission">
        <DecisionButtons
          label={label.title}
          shown={shown}
          busy={pending !== null}
          choose={choose}
          testid={(decision) => `group-${view.group}-${decision}`}
        />
        {view.settings.length > 0 ? (
          <button
            type="button"
            class="link-button"
            disabled={pending !== null}
            onClick={() => void choose('default')}
            data-testid={`group-${view.group}-default`}
          >
            Back to default
          </button>
        ) : null}
        <ErrorNotice error={error} />
      </div>
    </li>
  );
}

/** "Read-only tools" and "Other tools": one setting for each group, as Claude's connectors have. */
export function GroupSettings({
  server,
  groups,
  tools,
  onSaved,
}: {
  server: string;
  groups: GroupView[];
  tools: ToolView[];
  onSaved: () => Promise<void>;
}) {
  return (
    <ul class="group-list" data-testid="group-settings">
      {groups.map((view) => (
        <GroupRow
          key={view.group}
          server={server}
          view={view}
          count={tools.filter((tool) => tool.group === view.group).length}
          onSaved={onSaved}
        />
      ))}
    </ul>
  );
}

export function ToolsPanel({
  server,
  tools,
  onSaved,
}: {
  server: string;
  tools: ToolView[];
  onSaved: () => Promise<void>;
}) {
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? tools.filter(
        (tool) =>
          tool.name.toLowerCase().includes(needle) ||
          (tool.title ?? '').toLowerCase().includes(needle) ||
          (tool.description ?? '').toLowerCase().includes(needle),
      )
    : tools;

  if (tools.length === 0) return <p class="muted">This server offers no tools.</p>;
  return (
    <div>
      <div class="panel-toolbar">
        <p class="muted">
          Each choice is saved as a rule; a stricter rule in another file (project or user policy) still
          decides.
        </p>
        {tools.length > 6 ? (
          <label class="filter">
            <span class="visually-hidden">Filter tools</span>
            <input
              type="search"
              placeholder="Filter tools"
              value={filter}
              onInput={(event) => setFilter(event.currentTarget.value)}
              data-testid="tool-filter"
            />
          </label>
        ) : null}
      </div>
      <ul class="tool-list">
        {shown.map((tool) => (
          <ToolItem key={tool.name} server={server} tool={tool} onSaved={onSaved} />
        ))}
      </ul>
    </div>
  );
}
