/** What every layer of one server's diagnosis may read. */

import type { Scope, ServerEntry } from '../../config/entry.js';
import type { Deadline } from '../../core/deadline.js';

export interface LayerContext {
  name: string;
  scope: Scope;
  file: string;
  /** Expanded, with TLS paths resolved: what is actually used. */
  entry: ServerEntry;
  /** As written in the file (`${VAR}` templates kept): what fixes are built from. */
  template: ServerEntry;
  env: NodeJS.ProcessEnv;
  cwd: string;
  deadline: Deadline;
  /** Renew a due or expired login before the handshake (default); false: `--no-refresh`. */
  refresh?: boolean;
}
