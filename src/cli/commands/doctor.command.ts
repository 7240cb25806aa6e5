import type { DefineCommand } from '../define.js';
import { noRefreshOption, timeoutOption } from '../options.js';

export const doctorCommand: DefineCommand = (program, { io, act }) =>
  program
    .command('doctor')
    .description(
      'Diagnose servers layer by layer (config, DNS, TCP, proxy, TLS, HTTP, auth, MCP, tools) with the fix',
    )
    .argument('[name]', 'one server (default: every server, in parallel)')
    .option('--json', 'machine-readable output: the same findings, as fields')
    .addOption(timeoutOption('per-server time budget', "an entry's timeout wins"))
    .addOption(noRefreshOption())
    .addHelpText(
      'after',
      `
Registers nothing and opens no browser. An expired login with a refresh token is renewed, as a
call would renew it; with --no-refresh nothing is changed: no token request, no file written.
Exit status as list's: 0 every server fine, 4 only logins missing, 5 only approvals pending, 8 otherwise.

Examples:
  $ patchbay doctor
  $ patchbay doctor notion
  $ patchbay doctor notion --json --timeout 30`,
    )
    .action(
      act(async (name: string | undefined, flags) => {
        const { parseDoctorOptions, runDoctor } = await import('./doctor.js');
        return runDoctor(parseDoctorOptions(name, flags, io.env), io);
      }),
    );
