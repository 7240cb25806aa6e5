/**
 * The module boundary check of the lint step (`npm run lint`): DESIGN.md's module table
 * ("Modules and what each may import"), as data. Change a row there, change it here.
 *
 * Every module of src/ may import itself and `errors` (src/errors.ts, the floor under all of them).
 * `imports`: what else it may import, code and types. `types`: what it may import types from
 * only (`import type`, `import('…').T`), never code. A name is a module of this table or a file
 * under src/.
 */

/** The library modules, bottom to top: what the front ends above them may all build on. */
const LIBRARY = [
  'core',
  'config',
  'state',
  'auth',
  'policy',
  'connect',
  'use',
  'diagnose',
  'gateway',
  'console',
];

const TABLE = {
  errors: { imports: [] },
  core: { imports: [] },
  config: { imports: ['core'] },
  state: { imports: ['core'] },
  auth: { imports: ['core', 'config', 'state'] },
  policy: { imports: ['core', 'config', 'state'] },
  connect: { imports: ['core', 'config', 'auth'] },
  use: { imports: ['core', 'config', 'auth', 'policy', 'connect'] },
  diagnose: { imports: ['core', 'config', 'auth', 'connect'] },
  gateway: { imports: ['core', 'config', 'state', 'auth', 'policy', 'connect', 'use'] },
  console: { imports: ['core', 'config', 'auth', 'policy', 'connect', 'use', 'diagnose'] },
  // The `npm start` story drives the real binary; it is above every library module.
  demo: { imports: LIBRARY },
  cli: { imports: [...LIBRARY, 'demo'] },
  // The library API (package.json's export): re-exports of the modules a program embeds, not the
  // CLI or the demo.
  index: { imports: LIBRARY },
  // The console's front end, built by Vite into the page: the API contract's types, nothing else.
  web: { imports: [], types: ['console/api-types.ts'] },
};

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where a name of the table lives, as a path pattern. */
function where(name) {
  if (name === 'errors') return '^src/errors\\.ts$';
  if (name === 'index') return '^src/index\\.ts$';
  if (name === 'web') return '^web/';
  if (name.endsWith('.ts')) return `^src/${escape(name)}$`;
  return `^src/${name}/`;
}

const CODE_OF_OURS = ['^src/', '^web/'];
const TYPES = ['type-only', 'type-import'];

const rows = Object.entries(TABLE).flatMap(([name, { imports, types = [] }]) => {
  const floor = name === 'errors' || name === 'web' ? [] : ['errors'];
  const allowed = [name, ...floor, ...imports];
  const list = [...allowed.filter((entry) => entry !== name), ...types.map((entry) => `${entry} (types)`)];
  const rules = [
    {
      name: `${name}-imports`,
      comment: `${name} may import only ${list.join(', ') || 'nothing of ours'} (DESIGN.md, module table).`,
      severity: 'error',
      from: { path: where(name) },
      // cli/ is left to nothing-imports-cli, so an upward import is reported once.
      to: { path: CODE_OF_OURS, pathNot: [...allowed, ...types, 'cli'].map(where) },
    },
  ];
  if (types.length > 0)
    rules.push({
      name: `${name}-imports-types-only`,
      comment: `${name} may import only types from ${types.join(', ')} (DESIGN.md, module table).`,
      severity: 'error',
      from: { path: where(name) },
      to: { path: types.map(where), dependencyTypesNot: TYPES },
    });
  return rules;
});

export default {
  forbidden: [
    {
      name: 'nothing-imports-cli',
      comment:
        'Nothing imports cli/: the commands are the top, and a module below takes what it needs as an argument.',
      severity: 'error',
      from: { pathNot: where('cli') },
      to: { path: where('cli') },
    },
    {
      name: 'nothing-imports-index',
      comment: 'src/index.ts is the library API: modules import what they use from where it lives.',
      severity: 'error',
      from: {},
      to: { path: where('index') },
    },
    {
      name: 'module-in-table',
      comment: 'Every file of src/ belongs to a module of the table (DESIGN.md): add the row there and here.',
      severity: 'error',
      from: { path: '^src/', pathNot: Object.keys(TABLE).map(where) },
      to: {},
    },
    ...rows,
    {
      name: 'no-circular',
      comment: 'No import circles, type-only ones included: move the shared part into a file both import.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // Type-only imports are seen (and told apart) only before compilation.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    // Only our files matter; npm packages are not looked into.
    skipAnalysisNotInRules: true,
    // A rerun with no file changed answers from here (about 1 s instead of 3 s of CPU).
    cache: { folder: 'node_modules/.cache/dependency-cruiser', strategy: 'content' },
  },
};
