import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api';
import type { Status } from '../types';
import { Hint, RichText, type CoveredVerb } from './rich-text';

export function ErrorNotice({
  error,
  testid,
  covered,
}: {
  error: ApiError | null;
  testid?: string;
  /** Verbs of the commands the page has a button for beside this notice (their hints are dropped). */
  covered?: readonly CoveredVerb[];
}) {
  // A lost session is said once, in the page's banner, rather than in every panel.
  if (!error || error.status === 401) return null;
  return (
    <div class="notice notice-error" role="alert" data-testid={testid}>
      <p class="notice-message">
        <RichText text={error.message} />
      </p>
      <Hint hint={error.hint} covered={covered ?? []} />
    </div>
  );
}

const STATUS_TEXT: Record<Status, string> = {
  connected: 'Connected',
  'needs-auth': 'Needs login',
  failed: 'Failed',
  'pending-approval': 'Pending approval',
  disabled: 'Disabled',
  unchecked: 'Not checked',
};

export function StatusPill({
  status,
  checking,
  testid,
}: {
  status: Status;
  checking?: boolean;
  testid?: string;
}) {
  const shown = checking && status === 'unchecked' ? 'Checking…' : STATUS_TEXT[status];
  return (
    <span
      class={`status status-${checking && status === 'unchecked' ? 'checking' : status}`}
      data-testid={testid}
      data-status={status}
    >
      <span class="status-dot" aria-hidden="true" />
      {shown}
    </span>
  );
}

export function Chip({
  children,
  tone,
}: {
  children: ComponentChildren;
  tone?: 'warn' | 'danger' | 'info' | 'ok';
}) {
  return <span class={`chip${tone ? ` chip-${tone}` : ''}`}>{children}</span>;
}

export function Spinner({ label }: { label: string }) {
  return (
    <span class="spinner-wrap" role="status">
      <span class="spinner" aria-hidden="true" />
      <span class="visually-hidden">{label}</span>
    </span>
  );
}

export function Loading({ label }: { label: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

/** The first letter of a name on a tile, standing in for a connector's icon. */
export function Monogram({ name }: { name: string }) {
  const letter = (/[\p{L}\p{N}]/u.exec(name)?.[0] ?? '?').toUpperCase();
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) | 0;
  return (
    <span class={`monogram monogram-${Math.abs(hash) % 6}`} aria-hidden="true">
      {letter}
    </span>
  );
}
