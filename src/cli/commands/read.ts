/**
 * `patchbay read <name> <uri> [-o FILE]`: a resource's contents. Text goes to stdout; binary
 * content is never dumped on a terminal: it is written to the file given with -o.
 */

import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

import { EXIT, PatchbayError } from '../../errors.js';
import { validateName } from '../../config/validate.js';
import { timeoutFrom } from '../health.js';
import { note, printJson, type Io } from '../io.js';
import type { ServerRequestOptions } from '../server-requests.js';
import { parseServerRequestOptions, useServer } from '../server-session.js';
import type { Session } from '../../connect/session.js';

export interface ReadOptions {
  name: string;
  uri: string;
  output: string | undefined;
  json: boolean;
  timeoutMs: number;
  /** How the server's own requests (elicitation, roots) are answered. */
  requests: ServerRequestOptions;
}

export function parseReadOptions(
  name: string,
  uri: string,
  raw: { output?: string; json?: boolean; timeout?: string; roots?: boolean; acceptDefaults?: boolean },
  env: NodeJS.ProcessEnv,
): ReadOptions {
  if (uri.trim() === '') throw new PatchbayError('usage', 'The resource URI is empty.');
  return {
    name: validateName(name),
    uri,
    output: raw.output,
    json: Boolean(raw.json),
    timeoutMs: timeoutFrom(raw.timeout, env),
    requests: parseServerRequestOptions(raw),
  };
}

export interface Content {
  uri: string;
  mimeType?: string;
  text?: string;
  blob?: string;
}

export async function runRead(options: ReadOptions, io: Io): Promise<number> {
  const contents = await useServer(
    options.name,
    options.timeoutMs,
    io,
    (session) => readOnSession(session, options.uri),
    options.requests,
  );
  return printContents(contents, options, io);
}

/** The resource's contents, read on an open session (the shell keeps one for many reads). */
export async function readOnSession(session: Session, uri: string): Promise<Content[]> {
  const result = await session.request((client) => client.readResource({ uri }, session.requestOptions()));
  return result.contents as Content[];
}

/** What `read` prints of a resource's contents: text to stdout, binary to -o files, or --json. */
export async function printContents(
  contents: Content[],
  options: Pick<ReadOptions, 'name' | 'uri' | 'output' | 'json'>,
  io: Io,
): Promise<number> {
  if (options.json) {
    printJson(io, contents);
    return EXIT.ok;
  }
  const blobs = contents.filter((content) => typeof content.blob === 'string');
  if (blobs.length > 0 && !options.output) {
    const kinds = blobs.map((blob) => `${blob.mimeType ?? 'binary'}, ${size(blob.blob!)}`).join('; ');
    throw new PatchbayError('usage', `${options.uri} holds binary content (${kinds}).`, {
      hint: `Write it to a file: patchbay read ${options.name} '${options.uri}' -o <file>   (or --json for base64)`,
    });
  }
  let written = 0;
  for (const content of contents) {
    if (typeof content.text === 'string') {
      io.stdout.write(content.text.endsWith('\n') ? content.text : `${content.text}\n`);
    } else if (typeof content.blob === 'string') {
      // Several blobs: file, file.2, file.3 …
      const path = resolve(io.cwd, written === 0 ? options.output! : `${options.output!}.${written + 1}`);
      await writeFile(path, Buffer.from(content.blob, 'base64'));
      written++;
      note(io, `Wrote ${content.mimeType ?? 'binary content'} (${size(content.blob)}) to ${path}`);
    }
  }
  return EXIT.ok;
}

function size(base64: string): string {
  const bytes = Math.floor((base64.length * 3) / 4);
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KiB`;
}
