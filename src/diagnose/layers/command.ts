/**
 * The command layer (stdio servers): is the program there, and may it be run? Looked up the way
 * the spawn will: a name on the PATH the server gets, a path relative to the working directory.
 */

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

import { failed, passed, type Finding } from '../findings.js';
import { shellWord } from '../text.js';
import type { LayerContext } from './context.js';

export async function checkCommand(context: LayerContext): Promise<Finding> {
  const command = context.entry.command!;
  const path = context.entry.env?.PATH ?? context.env.PATH ?? '';
  const fixEntry = `fix the command in ${context.file} (patchbay get ${context.name})`;
  if (command.includes('/') || command.includes('\\')) {
    const full = isAbsolute(command) ? command : resolve(context.cwd, command);
    const problem = await runnable(full);
    if (problem)
      return failed(
        'command',
        `${command}: ${problem}`,
        { command, path: full },
        problem === 'not executable' ? `chmod +x ${shellWord(full)}` : `Install it, or ${fixEntry}`,
      );
    return passed('command', `${command} is an executable file`, { command, path: full });
  }
  const extensions =
    process.platform === 'win32' ? (context.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  let notExecutable: string | undefined;
  for (const directory of path.split(delimiter).filter(Boolean)) {
    for (const extension of extensions) {
      const candidate = join(directory, command + extension);
      const problem = await runnable(candidate);
      if (!problem) return passed('command', `${command} → ${candidate}`, { command, path: candidate });
      if (problem === 'not executable') notExecutable ??= candidate;
    }
  }
  if (notExecutable)
    return failed(
      'command',
      `${command}: ${notExecutable} is not executable`,
      { command, path: notExecutable },
      `chmod +x ${shellWord(notExecutable)}`,
    );
  return failed(
    'command',
    `command not found: ${command} (not in any PATH directory)`,
    { command, path: null, searched: path.split(delimiter).filter(Boolean).length },
    `Install ${command}, give its full path, or ${fixEntry}`,
  );
}

async function runnable(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return 'not a file';
  } catch {
    return 'no such file';
  }
  try {
    await access(path, constants.X_OK);
    return undefined;
  } catch {
    return 'not executable';
  }
}
