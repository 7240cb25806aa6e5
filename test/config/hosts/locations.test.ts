import { describe, expect, it } from 'vitest';
import {
  claudeCodeConfigPath,
  claudeDesktopConfigPath,
  cursorProjectPath,
  cursorUserPath,
  HOSTS,
  parseHost,
  vscodeUserPath,
  vscodeWorkspacePath,
} from '../../../src/config/hosts/index.js';
import type { HostEnvironment } from '../../../src/config/hosts/types.js';
import { PatchbayError } from '../../../src/errors.js';

function host(
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
  projectRoot = '/home/dev/src/shop',
): HostEnvironment {
  return { platform, env, projectRoot, cwd: projectRoot };
}

describe('host file locations', () => {
  const linux = host('linux', { HOME: '/home/dev' });
  const mac = host('darwin', { HOME: '/Users/dev' }, '/Users/dev/src/shop');
  const windows = host(
    'win32',
    { USERPROFILE: 'C:\\Users\\dev', APPDATA: 'C:\\Users\\dev\\AppData\\Roaming' },
    'C:\\src\\shop',
  );

  it('Claude Code: ~/.claude.json, or inside CLAUDE_CONFIG_DIR', () => {
    expect(claudeCodeConfigPath(linux)).toBe('/home/dev/.claude.json');
    expect(
      claudeCodeConfigPath(host('linux', { HOME: '/home/dev', CLAUDE_CONFIG_DIR: '/home/dev/.claude' })),
    ).toBe('/home/dev/.claude/.claude.json');
    expect(claudeCodeConfigPath(windows)).toBe('C:\\Users\\dev\\.claude.json');
  });

  it('Claude Desktop: the app data directory of each platform', () => {
    expect(claudeDesktopConfigPath(mac)).toBe(
      '/Users/dev/Library/Application Support/Claude/claude_desktop_config.json',
    );
    expect(claudeDesktopConfigPath(windows)).toBe(
      'C:\\Users\\dev\\AppData\\Roaming\\Claude\\claude_desktop_config.json',
    );
    expect(claudeDesktopConfigPath(linux)).toBe('/home/dev/.config/Claude/claude_desktop_config.json');
    expect(claudeDesktopConfigPath(host('linux', { HOME: '/home/dev', XDG_CONFIG_HOME: '/xdg' }))).toBe(
      '/xdg/Claude/claude_desktop_config.json',
    );
    // Without APPDATA, the default roaming profile directory.
    expect(claudeDesktopConfigPath(host('win32', { USERPROFILE: 'C:\\Users\\dev' }))).toBe(
      'C:\\Users\\dev\\AppData\\Roaming\\Claude\\claude_desktop_config.json',
    );
  });

  it('Cursor: ~/.cursor/mcp.json and <project>/.cursor/mcp.json', () => {
    expect(cursorUserPath(linux)).toBe('/home/dev/.cursor/mcp.json');
    expect(cursorUserPath(windows)).toBe('C:\\Users\\dev\\.cursor\\mcp.json');
    expect(cursorProjectPath(mac)).toBe('/Users/dev/src/shop/.cursor/mcp.json');
  });

  it('VS Code: the user profile mcp.json and <project>/.vscode/mcp.json', () => {
    expect(vscodeUserPath(linux)).toBe('/home/dev/.config/Code/User/mcp.json');
    expect(vscodeUserPath(mac)).toBe('/Users/dev/Library/Application Support/Code/User/mcp.json');
    expect(vscodeUserPath(windows)).toBe('C:\\Users\\dev\\AppData\\Roaming\\Code\\User\\mcp.json');
    expect(vscodeWorkspacePath(windows)).toBe('C:\\src\\shop\\.vscode\\mcp.json');
  });

  it('import reads the project file first where the host lets it win', () => {
    expect(HOSTS.cursor.importLocations(linux).map((location) => location.scope)).toEqual([
      'project',
      'user',
    ]);
    expect(HOSTS.vscode.importLocations(linux).map((location) => location.serversPath)).toEqual([
      ['servers'],
      ['servers'],
    ]);
    const claude = HOSTS['claude-code'].importLocations(linux);
    expect(claude.map((location) => location.scope)).toEqual(['local', 'project', 'user']);
    expect(claude[0]!.serversPath).toEqual(['projects', '/home/dev/src/shop', 'mcpServers']);
    expect(claude[1]!.skipReason).toMatch(/\.mcp\.json/);
    // Windows keys may use either separator.
    expect(HOSTS['claude-code'].importLocations(windows).map((location) => location.serversPath[1])).toEqual([
      'C:\\src\\shop',
      'C:/src/shop',
      undefined,
      undefined,
    ]);
  });

  it('export sends project entries to the project file where there is one', () => {
    expect(HOSTS.cursor.exportLocation('project', linux)).toMatchObject({
      path: '/home/dev/src/shop/.cursor/mcp.json',
    });
    expect(HOSTS.cursor.exportLocation('local', linux)).toMatchObject({
      path: '/home/dev/src/shop/.cursor/mcp.json',
      note: expect.stringContaining('version control'),
    });
    expect(HOSTS.cursor.exportLocation('user', linux)).toMatchObject({ path: '/home/dev/.cursor/mcp.json' });
    expect(HOSTS.vscode.exportLocation('local', linux)).toMatchObject({
      path: '/home/dev/src/shop/.vscode/mcp.json',
    });
    expect(HOSTS['claude-desktop'].exportLocation('local', linux)).toHaveProperty('note');
    expect(HOSTS['claude-desktop'].exportLocation('project', linux)).toMatchObject({ scope: 'user' });
    expect(HOSTS['claude-code'].exportLocation('project', linux)).toHaveProperty('reason');
    expect(HOSTS['claude-code'].exportLocation('local', linux)).toMatchObject({
      serversPath: ['projects', '/home/dev/src/shop', 'mcpServers'],
    });
  });
});

describe('parseHost', () => {
  it('accepts the host names, case-insensitively', () => {
    expect(parseHost('cursor', '--from')).toBe('cursor');
    expect(parseHost('VSCode', '--to')).toBe('vscode');
  });

  it('lists the valid names for an unknown or missing one', () => {
    for (const value of ['windsurf', undefined]) {
      try {
        parseHost(value, '--from');
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(PatchbayError);
        expect((error as PatchbayError).exitCode).toBe(2);
        expect((error as PatchbayError).message).toContain('claude-code, claude-desktop, cursor, vscode');
        expect((error as PatchbayError).hint).toContain('patchbay import --from');
      }
    }
  });
});
