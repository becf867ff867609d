// ESLint enforces the boundaries of ../shared/STYLE.md:
//  - every import of a package is declared in the importing workspace's package.json
//    (tests may also use the root's devDependencies), so a package installs what it uses;
//  - no deep imports into another package (@quire/x/src/..., @quire/x/dist/...);
//  - components never import each other; they talk through proto/ contracts; only cli/ (the
//    `quire` command) depends on components, through their entry points;
//  - common/ and client/ carry no process-level adapter (logger, metrics SDK, servers) and no
//    etcd or native module: those live in runtime/, metastore/ and datanode/src/storage/;
//  - etcd3 only inside metastore/, lmdb only inside datanode/src/storage/;
//  - core folders stay free of I/O, timers, wall-clock time, randomness and process.env;
//  - process.env only in entry points (main.ts, the CLI) and tests;
//  - no floating promises, no import cycles, no `any`.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = import.meta.dirname;
const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;

const components = ['datanode', 'coordinator', 'router', 'client', 'cli', 'operator'];
const deepImports = { group: ['@quire/*/src/*', '@quire/*/dist/*', '@quire/*/src', '@quire/*/dist'], message: 'Import the package entry point (@quire/x), never its files.' };
const etcdOnlyInMetastore = { name: 'etcd3', message: 'Only metastore/ talks to etcd; use @quire/metastore.' };
const lmdbOnlyInStorage = { name: 'lmdb', message: 'Only datanode/src/storage/ uses LMDB; use the StorageEngine interface.' };
// What a client process must never load: the logger, the metrics SDK, etcd and native modules.
const processAdapters = [
  { name: 'pino', message: 'The pino logger is a process-level adapter: it lives in @quire/runtime (common holds the Logger interface).' },
  { name: 'cockatiel', message: 'Only metastore/ uses cockatiel.' },
  { name: 'node:http', message: 'Servers live in @quire/runtime.' },
  { name: 'node:child_process', message: 'Processes are started by @quire/cli.' },
];
const processAdapterPatterns = { group: ['@opentelemetry/*', 'msgpackr*'], message: 'Metrics, tracing and native codecs are process-level adapters: they live in @quire/runtime or the components.' };
// The client library may use the OpenTelemetry API (no-op unless the application registers an SDK), never an SDK.
const clientAdapterPatterns = { group: ['@opentelemetry/*', '!@opentelemetry/api', 'msgpackr*'], message: 'The client may use @opentelemetry/api only: SDKs, exporters and native codecs belong to the application or to the servers.' };

/** no-restricted-imports for a component: other components, etcd3 and lmdb unless allowed. */
function componentImports(self, { etcd = false, lmdb = false } = {}) {
  const paths = [];
  if (!etcd) paths.push(etcdOnlyInMetastore);
  if (!lmdb) paths.push(lmdbOnlyInStorage);
  return [
    'error',
    {
      paths,
      patterns: [
        deepImports,
        {
          group: components.filter((c) => c !== self).map((c) => `@quire/${c}`),
          message: `${self} must not import another component: talk through proto/ contracts.`,
        },
      ],
    },
  ];
}

// Core folders: deterministic state machines and planners (messages, ticks, time in; actions out).
const coreFolders = [
  'common/src/metadata/**',
  'datanode/src/partition/**',
  'datanode/src/replication/**',
  'coordinator/src/placement/**',
  'coordinator/src/status/**',
  'coordinator/src/failover/**',
  'coordinator/src/keyspaces/**',
  'coordinator/src/moves/**',
  'router/src/routing/**',
  'history/src/**',
  'cli/src/dev/restart-policy.ts',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'proto/src/gen/**', '**/*.config.*', 'e2e/results/**', 'bench/results/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    plugins: { 'import-x': importX },
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    settings: { 'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] }, 'import-x/extensions': ['.ts', '.js'], 'import-x/resolver-next': [createTypeScriptImportResolver({ project: ['*/tsconfig.json'], noWarnOnMultipleProjects: true })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
      'no-restricted-imports': ['error', { paths: [etcdOnlyInMetastore, lmdbOnlyInStorage], patterns: [deepImports] }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment only in main.ts and pass config down.' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      eqeqeq: ['error', 'always'],
    },
  },
  // Every package an import names is declared in the importing workspace's package.json.
  ...workspaces.map((w) => ({ files: [`${w}/src/**/*.ts`], ignores: ['**/*.test.ts'], rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: [join(root, w)], devDependencies: false, includeTypes: true }] } })),
  ...workspaces.map((w) => ({ files: [`${w}/src/**/*.test.ts`], rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: [join(root, w), root], includeTypes: true }] } })),
  // proto and common: foundations the client library installs. No component, no runtime, and
  // no process-level adapter (logger, metrics SDK, servers), etcd or native module.
  {
    files: ['proto/src/**/*.ts', 'common/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [etcdOnlyInMetastore, lmdbOnlyInStorage, ...processAdapters], patterns: [deepImports, processAdapterPatterns, { group: ['@quire/*', '!@quire/proto'], message: 'proto and common are foundations: they import no other Quire package.' }] },
      ],
    },
  },
  // runtime: the server processes' adapters. It builds on proto and common and imports no component.
  { files: ['runtime/src/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [etcdOnlyInMetastore, lmdbOnlyInStorage], patterns: [deepImports, { group: ['@quire/*', '!@quire/proto', '!@quire/common'], message: 'runtime builds on proto and common only.' }] }] } },
  { files: ['metastore/src/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [lmdbOnlyInStorage], patterns: [deepImports, { group: components.map((c) => `@quire/${c}`), message: 'metastore is a foundation: it imports no component.' }] }] } },
  { files: ['datanode/src/**/*.ts'], rules: { 'no-restricted-imports': componentImports('datanode') } },
  { files: ['datanode/src/storage/**/*.ts'], rules: { 'no-restricted-imports': componentImports('datanode', { lmdb: true }) } },
  { files: ['coordinator/src/**/*.ts'], rules: { 'no-restricted-imports': componentImports('coordinator') } },
  { files: ['router/src/**/*.ts'], rules: { 'no-restricted-imports': componentImports('router') } },
  // client: what an application installs. proto, common and grpc-js; nothing a server process needs.
  {
    files: ['client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [etcdOnlyInMetastore, lmdbOnlyInStorage, ...processAdapters],
          patterns: [deepImports, clientAdapterPatterns, { group: ['@quire/*', '!@quire/proto', '!@quire/common'], message: 'The client library depends on proto and common only: it reaches the cluster through a router.' }],
        },
      ],
    },
  },
  // cli: the `quire` command starts components through their entry points; never etcd or metastore.
  { files: ['cli/src/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: [etcdOnlyInMetastore, lmdbOnlyInStorage, { name: '@quire/metastore', message: 'The CLI reaches the cluster through a router.' }], patterns: [deepImports] }] } },
  // e2e and bench treat the system as a black box: client, proto, common, and cli for
  // LocalCluster and the process launchers (and etcd3 for peers/fault setup).
  {
    files: ['e2e/src/**/*.ts', 'bench/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [lmdbOnlyInStorage], patterns: [deepImports, { group: ['@quire/datanode', '@quire/coordinator', '@quire/router', '@quire/operator', '@quire/metastore', '@quire/runtime'], message: 'e2e and bench drive real processes: import only client, cli, proto and common.' }] },
      ],
    },
  },
  // The one exception: `make bench-storage` measures the storage engine in-process (RFC 0002),
  // through its published `@quire/datanode/storage` entry point and nothing else of the node.
  {
    files: ['bench/src/storage-commit.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [lmdbOnlyInStorage, { name: '@quire/datanode', message: 'bench-storage imports only @quire/datanode/storage.' }],
          patterns: [deepImports, { group: ['@quire/datanode/*', '!@quire/datanode/storage', '@quire/coordinator', '@quire/router', '@quire/operator', '@quire/metastore', '@quire/runtime'], message: 'bench-storage imports only the storage entry point of the data node.' }],
        },
      ],
    },
  },
  // Core folders: no I/O, timers, wall clock or randomness. Their tests may use real files and
  // the event loop (a replica test runs against real LMDB), so the rule covers production code.
  {
    files: coreFolders,
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [etcdOnlyInMetastore, lmdbOnlyInStorage, 'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process', '@grpc/grpc-js'], patterns: [deepImports, { group: ['@quire/metastore', '@quire/datanode', '@quire/coordinator', '@quire/router', '@quire/client'], message: 'Core modules take their dependencies as parameters.' }] }],
      'no-restricted-globals': ['error', { name: 'Date', message: 'Use the injected Clock.' }, { name: 'setTimeout', message: 'Use the injected Clock.' }, { name: 'setInterval', message: 'Use the injected Clock.' }, { name: 'setImmediate', message: 'Core code does not schedule.' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use the injected Rng.' }, { object: 'process', property: 'env', message: 'Config comes in as a parameter.' }, { object: 'performance', property: 'now', message: 'Use the injected Clock.' }],
    },
  },
  // history (history format and checkers) is a foundation like common: it imports nothing from the
  // repo. It comes after the core-folder block, whose import rule would otherwise replace this one,
  // so it repeats the core-folder I/O bans: `quire check` gets its files through an injected reader.
  {
    files: ['history/src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [etcdOnlyInMetastore, lmdbOnlyInStorage, 'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process', '@grpc/grpc-js'], patterns: [deepImports, { group: ['@quire/*'], message: 'history is a foundation: it imports nothing from the repo.' }] }] },
  },
  // Entry points and tests may read the environment.
  { files: ['*/src/main.ts', 'cli/src/**/*.ts', '**/*.test.ts', 'e2e/src/**/*.ts', 'bench/src/**/*.ts'], rules: { 'no-restricted-properties': 'off' } },
);
