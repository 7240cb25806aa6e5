// Bundles the CLI (DESIGN.md, "Shipping"): `node scripts/bundle-cli.mjs`, run by `npm run build`
// after tsc. tsc still emits all of dist/ (the library, dist/index.js, and the modules tests and
// benches import); this overwrites dist/cli/main.js, the `patchbay` binary, with an ESM bundle of
// src/cli/main.ts whose dynamic import()s — each command, the MCP SDK, zod, undici — became
// chunks in dist/cli/chunks/, loaded only by the command that imports them. One file per chunk
// instead of hundreds of modules is most of what this saves: node's ESM loader resolves, reads
// and links every module separately.
//
// What does not survive bundling as is, and how it is kept working:
// - `import.meta.url` (core/version.ts reads ../../package.json, the console serves ../web/, the demo
//   and install name ../cli/main.js): a module now lives in main.js or in a chunk, not where tsc
//   put it. Each use is rewritten to the URL the module has in tsc's output, computed from the
//   file it ended up in, so every path relative to a module still means what it meant.
// - CommonJS dependencies that require() node's built-ins: each output file gets a `require`
//   made with createRequire, which esbuild's shim calls. A module's own
//   `const require = createRequire(import.meta.url)` is dropped, so its require()s are bundled.
// - @napi-rs/keyring is a native addon that picks a binary per platform: left external, loaded
//   from node_modules when the keychain is used.
//
// Source maps are written beside the files (`.js.map`) but not referenced by node: run with
// `node --enable-source-maps` to use them (it slows every start, so the binary does not ask).

import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build } from 'esbuild';

const repo = fileURLToPath(new URL('..', import.meta.url));
const src = `${repo}src/`;
const outdir = `${repo}dist/cli`;
const chunkDir = 'chunks';

const OWN_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;

/** `import.meta.url` → the URL tsc's output of this source file has (dist/<same path>.js). */
const moduleUrlPlugin = {
  name: 'tsc-module-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8');
      if (!path.startsWith(src) || !source.includes('import.meta.url')) return undefined;
      // A module's own require (network.ts loads undici's dispatcher this way) becomes the
      // bundle's, so that esbuild sees the require() calls and bundles what they load.
      const bundledRequire = source.replace(OWN_REQUIRE, '');
      // From dist/cli/ (where main.js is) to this module's twin in dist/.
      const twin = relative(`${src}cli`, path).replace(/\\/g, '/').replace(/\.ts$/, '.js');
      const distCli = `new URL(/\\/${chunkDir}\\/[^/]*$/.test(import.meta.url) ? "../" : "./", import.meta.url)`;
      return {
        contents: bundledRequire.replaceAll(
          'import.meta.url',
          `new URL(${JSON.stringify(twin)}, ${distCli}).href`,
        ),
        loader: 'ts',
        resolveDir: dirname(path),
      };
    });
  },
};

/**
 * The SDK's Node shims import its ajv validator, and with it ajv's modules run at load: ~20 ms of
 * every check, which never validates a JSON Schema (a Client only does for a tool's output on
 * call). Here the default validator becomes one that loads ajv on its first schema: a require()
 * of the same module, which esbuild keeps in the bundle but evaluates only when called. When the
 * SDK's file no longer looks as expected it is left alone (ajv then loads eagerly, as before).
 */
const lazyAjvPlugin = {
  name: 'lazy-sdk-ajv',
  setup(build) {
    build.onLoad(
      { filter: /@modelcontextprotocol[\\/]client[\\/]dist[\\/]shimsNode\.mjs$/ },
      async ({ path }) => {
        const source = await readFile(path, 'utf8');
        const provider =
          /^import \{ n as AjvJsonSchemaValidator \} from "(\.\/ajvProvider-[\w-]+\.mjs)";$/m.exec(source);
        if (
          !provider ||
          !/^const CORS_IS_POSSIBLE = false;$/m.test(source) ||
          !/^export \{ CORS_IS_POSSIBLE, AjvJsonSchemaValidator as DefaultJsonSchemaValidator \};$/m.test(
            source,
          )
        )
          return undefined;
        return {
          loader: 'js',
          resolveDir: dirname(path),
          contents: `
const CORS_IS_POSSIBLE = false;
class DefaultJsonSchemaValidator {
  #ajv;
  getValidator(schema) {
    this.#ajv ??= new (require(${JSON.stringify(provider[1])}).n)();
    return this.#ajv.getValidator(schema);
  }
}
export { CORS_IS_POSSIBLE, DefaultJsonSchemaValidator };
`,
        };
      },
    );
  },
};

await rm(`${outdir}/${chunkDir}`, { recursive: true, force: true });
const result = await build({
  entryPoints: { main: `${src}cli/main.ts` },
  outdir,
  chunkNames: `${chunkDir}/[name]-[hash]`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@napi-rs/keyring'],
  // The SDK's packages declare no side effects; keep their exports tree-shaken.
  treeShaking: true,
  sourcemap: 'external',
  legalComments: 'none',
  minify: true,
  metafile: true,
  // Prefer a package's ESM build: jsonc-parser's `main` is UMD, whose require()s esbuild cannot see.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __patchbayCreateRequire } from 'node:module'; const require = __patchbayCreateRequire(import.meta.url);",
  },
  plugins: [moduleUrlPlugin, lazyAjvPlugin],
  absWorkingDir: repo,
});

// Which source modules each output file holds, for test/e2e/lazy-sdk.test.ts (a command that needs
// no network must load no file holding the SDK or undici) and for reading bundle sizes.
const manifest = {};
for (const [output, { inputs }] of Object.entries(result.metafile.outputs)) {
  if (!output.endsWith('.js')) continue;
  manifest[relative('dist/cli', output).replace(/\\/g, '/')] = Object.keys(inputs);
}
await writeFile(`${outdir}/${chunkDir}/inputs.json`, `${JSON.stringify(manifest, null, 1)}\n`);
// BUNDLE_ANALYZE=1: what each file holds, largest first (esbuild's own report).
if (process.env.BUNDLE_ANALYZE)
  console.log(await analyzeMetafile(result.metafile, { verbose: process.env.BUNDLE_ANALYZE === 'verbose' }));
