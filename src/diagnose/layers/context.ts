/** What every layer of one server's diagnosis may read. */

import type { RefreshState } from '../../auth/refresh.js';
import type { Scope, ServerEntry } from '../../config/entry.js';
import type { Deadline } from '../../core/deadline.js';
import type { Paths } from '../../core/paths.js';

export interface LayerContext {
  name: string;
  scope: Scope;
  file: string;
  /** Expanded, with TLS paths resolved: what is actually used. */
  entry: ServerEntry;
  /** As written in the file (`${VAR}` templates kept): what fixes are built from. */
  template: ServerEntry;
  env: NodeJS.ProcessEnv;
  /** Where stored logins and era hints are. */
  paths: Paths;
  cwd: string;
  deadline: Deadline;
  /** Renew a due or expired login before the handshake (default); false: `--no-refresh`. */
  refresh?: boolean;
  /** Whose refreshes the handshake shares (a console's); default the process's. */
  refreshState?: RefreshState;
}
