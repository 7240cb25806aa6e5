// Bundles the CLI (DESIGN.md, "Shipping"): `node scripts/bundle-cli.mjs`, run by `npm run build`
// after tsc. tsc still emits all of dist/ (the library, dist/index.js, and the modules tests and
// benches import); this writes the `patchbay` binary over it: dist/cli/patchbay.cjs, one CommonJS
// bundle of src/cli/main.ts, and dist/cli/main.js, the small loader that runs it
// (scripts/cli-loader.js, which says why: Node 20 caches compiled code only for scripts, not for
// ES modules). One file instead of hundreds of modules is most of what bundling saves: node's
// loader resolves, reads and links every module separately.
//
// The dynamic import()s of the source — each command, the MCP SDK, zod, undici — stay lazy inside
// the one file: esbuild wraps each module they reach in a function that runs it on the first
// import(), so a command that needs no network runs none of the SDK's modules (the bundle's
// text is compiled, and cached, as a whole; see test/e2e/lazy-sdk.test.ts for how that is checked).
//
// What does not survive bundling as is, and how it is kept working:
// - `import.meta.url` (core/version.ts reads ../../package.json, the console serves ../web/, the demo
//   and install name ../cli/main.js): a module now lives in patchbay.cjs, not where tsc put it.
//   Each use is rewritten to the URL the module has in tsc's output, computed from the bundle's
//   directory, so every path relative to a module still means what it meant.
// - A module's own `const require = createRequire(import.meta.url)` is dropped, so its require()s
//   are the bundle's and esbuild bundles what they load.
// - main.ts's top-level await, which a CommonJS file cannot have: its last block (run as the
//   binary) becomes an async function that is called and not awaited, as nothing waits for it.
// - @napi-rs/keyring is a native addon that picks a binary per platform: left external, loaded
//   from node_modules when the keychain is used (with require(), see EXTERNAL_IMPORTS).
// - redis (the official client, 0.6 MB) is left external too: only a gateway with `--state redis://`
//   loads it, and every other command should not read it with the bundle.
// - OpenTelemetry's API, trace SDK and OTLP exporter (about 70 kB minified) are bundled: they are
//   only run (a lazy import()) by a gateway with an OTLP endpoint configured (gateway/telemetry.ts).
//
// A source map is written beside the bundle (`patchbay.cjs.map`) for reading stack traces; node
// does not use it.

import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build, transform } from 'esbuild';

const repo = fileURLToPath(new URL('..', import.meta.url));
const src = `${repo}src/`;
const outdir = `${repo}dist/cli`;
const bundleFile = `${outdir}/patchbay.cjs`;

const OWN_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;

const ENTRY = `${src}cli/main.ts`;
/** main.ts run as the binary: everything from the entry test to the end of the file. */
const ENTRY_BLOCK = /^(if \(entryPath === fileURLToPath\(import\.meta\.url\)\) \{\n)([^]*)(\n\}\n)$/m;

/**
 * `import.meta.url` → the URL tsc's output of this source file has (dist/<same path>.js), and
 * main.ts without its hashbang and its top-level await.
 */
const moduleUrlPlugin = {
  name: 'tsc-module-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      let source = await readFile(path, 'utf8');
      if (!path.startsWith(src)) return undefined;
      if (path === ENTRY) {
        const block = ENTRY_BLOCK.exec(source);
        if (!block) throw new Error('bundle-cli: src/cli/main.ts no longer ends with its entry block');
        source = source.replace(/^#!.*\n/, '').replace(ENTRY_BLOCK, `$1void (async () => {\n$2\n})();$3`);
      } else if (!source.includes('import.meta.url')) return undefined;
      // A module's own require (network.ts loads undici's dispatcher this way) becomes the
      // bundle's, so that esbuild sees the require() calls and bundles what they load.
      const bundledRequire = source.replace(OWN_REQUIRE, '');
      // From dist/cli/ (where the bundle is) to this module's twin in dist/.
      const twin = relative(`${src}cli`, path).replace(/\\/g, '/').replace(/\.ts$/, '.js');
      return {
        contents: bundledRequire.replaceAll(
          'import.meta.url',
          `new URL(${JSON.stringify(twin)}, require("node:url").pathToFileURL(__dirname + "/")).href`,
        ),
        loader: 'ts',
        resolveDir: dirname(path),
      };
    });
  },
};

/**
 * oidc-provider (the gateway's and the demo's authorization server) knows its models by their class
 * names (`this.constructor.name`: AccessToken, Session, …): the kind a token carries, the lifetime
 * and extra claims it gets, the adapter's model name. Minified, those names are mangled: access
 * tokens came out without `exp` and without the member's claims. Its modules alone are transformed
 * with esbuild's keepNames first (a defineProperty per class at load), so the rest of the bundle
 * does not pay for it.
 */
const keepNamesPlugin = {
  name: 'keep-names-oidc-provider',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]oidc-provider[\\/].*\.js$/ }, async ({ path }) => {
      const { code } = await transform(await readFile(path, 'utf8'), {
        keepNames: true,
        loader: 'js',
        sourcefile: path,
      });
      return { contents: code, loader: 'js', resolveDir: dirname(path) };
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

// The ES module bundle of earlier builds: its chunks would only be dead weight in the package.
await rm(`${outdir}/chunks`, { recursive: true, force: true });
const result = await build({
  entryPoints: [ENTRY],
  outfile: bundleFile,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['@napi-rs/keyring', 'redis'],
  // The SDK's packages declare no side effects; keep their exports tree-shaken.
  treeShaking: true,
  sourcemap: 'external',
  legalComments: 'none',
  minify: true,
  metafile: true,
  // Prefer a package's ESM build: jsonc-parser's `main` is UMD, whose require()s esbuild cannot see.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
  plugins: [moduleUrlPlugin, lazyAjvPlugin, keepNamesPlugin],
  absWorkingDir: repo,
});

// import() of what stays outside the bundle (the keychain addon, the redis client; node:crypto where there is no
// globalThis.crypto; node's http and https, which OpenTelemetry's OTLP exporter imports when it first
// sends) becomes require(): both are CommonJS, and node 20 lets a script compiled by
// vm import() only with an experimental flag or warning. Any other import() fails the build.
const EXTERNAL_IMPORTS = ['@napi-rs/keyring', 'node:crypto', 'redis', 'http', 'https'];
let bundleText = await readFile(bundleFile, 'utf8');
for (const specifier of EXTERNAL_IMPORTS)
  bundleText = bundleText.replaceAll(
    `import(${JSON.stringify(specifier)})`,
    `Promise.resolve().then(()=>require(${JSON.stringify(specifier)}))`,
  );
if (/\bimport\(/.test(bundleText)) throw new Error(`bundle-cli: an import() is left in ${bundleFile}`);
await writeFile(bundleFile, bundleText);

// The loader, with the bundle's hash: a code cache is only ever used for the bundle it was made of.
const bundleHash = createHash('sha256').update(bundleText).digest('hex').slice(0, 16);
const loader = await readFile(`${repo}scripts/cli-loader.js`, 'utf8');
if (!loader.includes("'__BUNDLE_HASH__'"))
  throw new Error('bundle-cli: scripts/cli-loader.js lost its hash slot');
await writeFile(`${outdir}/main.js`, loader.replace("'__BUNDLE_HASH__'", JSON.stringify(bundleHash)));
// tsc's map of the main.js it wrote, which the loader replaced.
await rm(`${outdir}/main.js.map`, { force: true });

// BUNDLE_ANALYZE=1: what the bundle holds, largest first (esbuild's own report).
if (process.env.BUNDLE_ANALYZE)
  console.log(await analyzeMetafile(result.metafile, { verbose: process.env.BUNDLE_ANALYZE === 'verbose' }));
