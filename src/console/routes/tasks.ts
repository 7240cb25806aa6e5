/**
 * Following a task the console started (routes/use.ts starts it when a tool's execution requires
 * one): its latest status, then its outcome; and cancelling it. Only the console's own tasks are
 * known here, each under the server that runs it.
 */

import { PatchbayError } from '../../errors.js';
import type { TaskRun } from '../api-types.js';
import { json } from '../http.js';
import type { Route } from '../router.js';
import { consoleTasks } from '../tasks.js';

export const taskRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/servers/:name/tasks/:id',
    handler: async ({ params }) =>
      json(200, known(params.name!, params.id!, consoleTasks.get(params.name!, params.id!))),
  },
  {
    method: 'DELETE',
    path: '/api/servers/:name/tasks/:id',
    handler: async ({ params }) =>
      json(200, known(params.name!, params.id!, await consoleTasks.cancel(params.name!, params.id!))),
  },
];

function known(server: string, taskId: string, run: TaskRun | undefined): TaskRun {
  if (run) return run;
  throw new PatchbayError(
    'not-found',
    `This console started no task ${JSON.stringify(taskId)} on ${server}.`,
    {
      hint: `Tasks started elsewhere: patchbay task ${server} <id>`,
    },
  );
}
