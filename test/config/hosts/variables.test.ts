import { describe, expect, it } from 'vitest';
import {
  editorToPatchbay,
  inputVariableName,
  patchbayToEditor,
  Refusal,
  type EditorVariableOptions,
} from '../../../src/config/hosts/variables.js';

const linux: EditorVariableOptions = {
  hostName: 'Cursor',
  platform: 'linux',
  projectRoot: '/home/dev/src/shop',
  targetScope: 'local',
};

describe('editorToPatchbay', () => {
  it('turns ${env:NAME} into ${NAME} and keeps literal text', () => {
    const notes: string[] = [];
    expect(editorToPatchbay('Bearer ${env:GITHUB_TOKEN}', linux, notes)).toBe('Bearer ${GITHUB_TOKEN}');
    expect(editorToPatchbay('$HOME and ${ not closed', linux, notes)).toBe('$HOME and ${ not closed');
    expect(notes).toEqual([]);
  });

  it('refuses an env name patchbay cannot spell', () => {
    expect(() => editorToPatchbay('${env:my-token}', linux, [])).toThrow(Refusal);
  });

  it('maps ${userHome} to HOME, or USERPROFILE on Windows, with a note', () => {
    const notes: string[] = [];
    expect(editorToPatchbay('${userHome}/notes', linux, notes)).toBe('${HOME}/notes');
    expect(editorToPatchbay('${userHome}\\notes', { ...linux, platform: 'win32' }, notes)).toBe(
      '${USERPROFILE}\\notes',
    );
    expect(notes[0]).toContain('${HOME}');
  });

  it('pins ${workspaceFolder} to the project only for the local scope', () => {
    const notes: string[] = [];
    expect(editorToPatchbay('${workspaceFolder}/server.js', linux, notes)).toBe(
      '/home/dev/src/shop/server.js',
    );
    expect(editorToPatchbay('${workspaceFolderBasename}', linux, notes)).toBe('shop');
    expect(notes.join('\n')).toContain('/home/dev/src/shop');
    expect(() => editorToPatchbay('${workspaceFolder}/x', { ...linux, targetScope: 'user' }, [])).toThrow(
      /-s local/,
    );
    expect(() => editorToPatchbay('${workspaceFolder}/x', { ...linux, targetScope: 'project' }, [])).toThrow(
      Refusal,
    );
  });

  it('uses the platform path separator', () => {
    expect(editorToPatchbay('a${pathSeparator}b${/}c', linux, [])).toBe('a/b/c');
    expect(editorToPatchbay('a${pathSeparator}b', { ...linux, platform: 'win32' }, [])).toBe('a\\b');
  });

  it('refuses variables it cannot reproduce, naming them', () => {
    expect(() => editorToPatchbay('${config:taskRunner.path}', linux, [])).toThrow(
      /\$\{config:taskRunner.path\}/,
    );
    expect(() => editorToPatchbay('${SOME_VAR}', linux, [])).toThrow(Refusal);
    // `${input:…}` is VS Code's; without an input resolver it is unknown.
    expect(() => editorToPatchbay('${input:key}', linux, [])).toThrow(Refusal);
  });
});

describe('patchbayToEditor', () => {
  it('writes ${NAME} as ${env:NAME}', () => {
    const notes: string[] = [];
    expect(patchbayToEditor('Bearer ${TOKEN}', 'Cursor', notes)).toBe('Bearer ${env:TOKEN}');
    expect(notes).toEqual([]);
  });

  it('drops a default with a note that does not reveal it', () => {
    const notes: string[] = [];
    expect(patchbayToEditor('${API_URL:-https://secret.example.com/?k=abc}/mcp', 'VS Code', notes)).toBe(
      '${env:API_URL}/mcp',
    );
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('default of ${API_URL} was dropped');
    expect(notes[0]).not.toContain('abc');
  });

  it('refuses literal ${ text the editor would try to substitute', () => {
    expect(() => patchbayToEditor('${not-a-var}', 'Cursor', [])).toThrow(Refusal);
  });
});

describe('inputVariableName', () => {
  it('makes an environment variable name of an input id', () => {
    expect(inputVariableName('perplexity-key')).toBe('PERPLEXITY_KEY');
    expect(inputVariableName('github_token')).toBe('GITHUB_TOKEN');
    expect(inputVariableName('apiKey')).toBe('API_KEY');
    expect(inputVariableName('1password.item')).toBe('_1PASSWORD_ITEM');
    expect(inputVariableName('---')).toBe('INPUT');
  });
});
