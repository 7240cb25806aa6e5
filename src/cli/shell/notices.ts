/**
 * What the server says on its own while the shell is open: log messages (notifications/message),
 * resource updates, list changes. Each is shown as it arrives: a line on stderr (on a terminal,
 * above the line being typed, which is drawn again), or with --json one line on stdout tagged by
 * its kind, like the results.
 */

import type { Client } from '@modelcontextprotocol/client';

import { LOG_LEVELS } from '../../core/log-levels.js';
import { terminalText } from '../../core/terminal-text.js';
import { paint, type Paint } from '../io.js';

export type Notice =
  | { kind: 'log'; level: string; logger?: string; data: unknown }
  | { kind: 'resource-updated'; uri: string }
  | { kind: 'list-changed'; list: 'tools' | 'prompts' | 'resources' };

/** Registers the handlers on a new client (connect calls this again for a renewed session). */
export function listenForNotices(client: Client, show: (notice: Notice) => void): void {
  client.setNotificationHandler('notifications/message', (notification) => {
    const { level, logger, data } = notification.params;
    show({ kind: 'log', level: String(level), ...(typeof logger === 'string' ? { logger } : {}), data });
  });
  client.setNotificationHandler('notifications/resources/updated', (notification) => {
    show({ kind: 'resource-updated', uri: String(notification.params.uri) });
  });
  client.setNotificationHandler('notifications/tools/list_changed', () =>
    show({ kind: 'list-changed', list: 'tools' }),
  );
  client.setNotificationHandler('notifications/prompts/list_changed', () =>
    show({ kind: 'list-changed', list: 'prompts' }),
  );
  client.setNotificationHandler('notifications/resources/list_changed', () =>
    show({ kind: 'list-changed', list: 'resources' }),
  );
}

/** `error` and above. */
const SEVERE = new Set(LOG_LEVELS.slice(LOG_LEVELS.indexOf('error')));

/** One line for a person; every part the server sent made printable first. */
export function describeNotice(notice: Notice, color: boolean): string {
  const p: Paint = paint(color);
  switch (notice.kind) {
    case 'log': {
      const level = terminalText(notice.level, { max: 20 });
      const tag = SEVERE.has(notice.level)
        ? p.red(`[${level}]`)
        : notice.level === 'warning'
          ? p.yellow(`[${level}]`)
          : p.dim(`[${level}]`);
      const logger = notice.logger ? `${terminalText(notice.logger, { max: 60 })}: ` : '';
      const data = typeof notice.data === 'string' ? notice.data : JSON.stringify(notice.data);
      return `${tag} ${logger}${terminalText(data ?? '', { max: 2000 })}`;
    }
    case 'resource-updated':
      return `${p.cyan('[updated]')} ${terminalText(notice.uri, { max: 500 })}`;
    case 'list-changed':
      return `${p.cyan('[list changed]')} ${notice.list}`;
  }
}
