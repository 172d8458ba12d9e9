// The project's layer graph, written once (issue 11); `npm run lint` cruises the whole repo with it.
// Why dependency-cruiser rather than eslint-plugin-boundaries: a rule is a named object with its
// reason beside it, and a violation prints that name; rules match the file an import resolves to
// (parsed by the project's TypeScript 6: .ts specifiers, JSON imports `with { type: 'json' }`,
// `import type`, dynamic imports, re-exports), so one regex per layer covers every way to import;
// and infra/test/layout.test.ts can cruise probe files outside the tree with this same config.
//
// Each layer rule lists what the layer MAY import; importing any other folder of the repo is the
// violation. Root files (package.json, eslint.config.js) are no layer and only contract/ may not
// import them; every file outside infra/ is held to the cdktf rule.

/** A module path (relative to the repo root) under one of these folders: `^(a/|b/)`. */
const under = (...folders) => `^(${folders.join('|')})`;

// Layers, as path prefixes. A negative lookahead keeps a layer's tests and benches out of it.
const CONTRACT = 'contract/';
const APP = 'app/(src|bin)/';
const TEMPLATES = 'templates/(?!test/)';
const BUILD_LIB = 'scripts/lib/';
const INFRA = 'infra/(?!test/|bench/)';
const TESTING = 'testing/';
/** A layer's test helpers: `<layer>/test/helpers/**`, `<layer>/test/fixtures/**` (or helpers.ts). */
const helpersOf = (layer) => `${layer}/test/(helpers|fixtures)(/|\\.[^/]+$)`;

/** Imports of repo files in a folder (root files and packages are matched by their own rules). */
const toRepoFolderExcept = (...allowed) => ({
  dependencyTypes: ['local'],
  path: '^[^/]+/',
  pathNot: under(...allowed),
});

module.exports = {
  forbidden: [
    {
      name: 'contract-imports-only-zod-and-node',
      comment:
        'contract/ holds the facts every layer shares; it stays a leaf so that any layer can ' +
        'import it without pulling in another layer, and without a package beyond zod.',
      severity: 'error',
      from: { path: '^contract/' },
      to: { dependencyTypesNot: ['core'], pathNot: under(CONTRACT, 'node_modules/zod/') },
    },
    {
      name: 'app-imports-only-contract',
      comment:
        'The app image holds app/ alone (the bundle): a deployment template, infra, build ' +
        'script, dashboard source or test helper imported here would end up in it or break it.',
      severity: 'error',
      from: { path: `^${APP}` },
      to: toRepoFolderExcept(APP, CONTRACT),
    },
    {
      name: 'sources-import-only-contract',
      comment:
        'grafana/ and prometheus/ describe dashboards and rules as data; templates render them, ' +
        'so they must not depend on the app, the templates, infra or the scripts.',
      severity: 'error',
      from: { path: '^(grafana|prometheus)/' },
      to: toRepoFolderExcept('$1/', CONTRACT),
    },
    {
      name: 'templates-import-only-contract-and-sources',
      comment:
        'templates/ renders the deployment from the config and the sources; the build library, ' +
        'infra and the scripts build on it, and the app only shares contract/ with it.',
      severity: 'error',
      from: { path: '^templates/', pathNot: '^templates/test/' },
      to: toRepoFolderExcept(TEMPLATES, CONTRACT, 'grafana/', 'prometheus/'),
    },
    {
      name: 'build-library-imports-only-templates-and-contract',
      comment:
        'scripts/lib/ bundles app/ by its path (esbuild), never by import, and infra builds on ' +
        'scripts/lib/, not the other way round.',
      severity: 'error',
      from: { path: `^${BUILD_LIB}` },
      to: toRepoFolderExcept(BUILD_LIB, TEMPLATES, CONTRACT),
    },
    {
      name: 'infra-imports-only-templates-build-library-and-contract',
      comment:
        'infra/ deploys the app as an image it builds from app/ by path; importing app code ' +
        'would couple the infrastructure to the app internals.',
      severity: 'error',
      from: { path: '^infra/', pathNot: '^infra/(test|bench)/' },
      to: toRepoFolderExcept(INFRA, TEMPLATES, BUILD_LIB, CONTRACT),
    },
    {
      name: 'scripts-import-only-build-library-templates-infra-and-contract',
      comment:
        'The command lines in scripts/ sit on top of the graph; nothing imports them, and they ' +
        'reach the app only through the bundle.',
      severity: 'error',
      from: { path: '^scripts/[^/]+$' },
      to: toRepoFolderExcept('scripts/[^/]+$', BUILD_LIB, TEMPLATES, INFRA, CONTRACT),
    },
    {
      name: 'testing-imports-only-contract',
      comment:
        'testing/ holds the helpers every layer tests with; importing a layer would make every ' +
        "layer's tests depend on it.",
      severity: 'error',
      from: { path: '^testing/' },
      to: toRepoFolderExcept(TESTING, CONTRACT),
    },
    {
      name: 'app-tests-import-only-app-contract-and-testing',
      comment:
        "The app's tests and benches test the app as it ships: they may not lean on the " +
        'templates, infra or the build scripts the app itself cannot import.',
      severity: 'error',
      from: { path: '^app/(test|bench)/' },
      to: toRepoFolderExcept(APP, 'app/$1/', helpersOf('app'), CONTRACT, TESTING),
    },
    {
      name: 'templates-tests-import-only-templates-their-imports-and-testing',
      comment:
        'A test reaches only what its layer may reach (plus test helpers), so tests never ' +
        'couple two layers the graph keeps apart.',
      severity: 'error',
      from: { path: '^templates/test/' },
      to: toRepoFolderExcept('templates/', CONTRACT, 'grafana/', 'prometheus/', TESTING),
    },
    {
      name: 'infra-tests-import-only-infra-their-imports-and-testing',
      comment:
        'A test reaches only what its layer may reach, with the test helpers of the layers ' +
        'that layer builds on (templates/, scripts/lib/): tests never couple layers the graph keeps apart.',
      severity: 'error',
      from: { path: '^infra/(test|bench)/' },
      to: toRepoFolderExcept(
        'infra/',
        TEMPLATES,
        helpersOf('templates'),
        BUILD_LIB,
        helpersOf('scripts'),
        CONTRACT,
        TESTING,
      ),
    },
    {
      name: 'scripts-tests-import-only-scripts-their-imports-and-testing',
      comment:
        'A test reaches only what its layer may reach, with the test helpers of the layers ' +
        'that layer builds on (templates/, infra/): tests never couple layers the graph keeps apart.',
      severity: 'error',
      from: { path: '^scripts/test/' },
      to: toRepoFolderExcept(
        'scripts/',
        TEMPLATES,
        helpersOf('templates'),
        INFRA,
        helpersOf('infra'),
        CONTRACT,
        TESTING,
      ),
    },
    {
      name: 'only-infra-imports-cdktf',
      comment:
        'Only infra/ imports cdktf, constructs and the provider bindings, so moving to the ' +
        'community fork (cdktn) stays a rename inside infra/ (docs/infrastructure.md).',
      severity: 'error',
      from: { pathNot: '^(infra|node_modules)/' },
      to: { path: '^(node_modules/)?(cdktf|constructs|@cdktf/[^/]+)(/|$)' },
    },
    {
      name: 'imports-resolve',
      comment:
        'The rules above match the file an import resolves to; an import that resolves to ' +
        'nothing would slip past all of them.',
      severity: 'error',
      from: { pathNot: '^node_modules/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Packages are leaves of the graph: their own imports are not the project's layers.
    doNotFollow: { path: '(^|/)node_modules/' },
    // Build output, render output and local state (.gitignore); tests are cruised like the rest.
    exclude: {
      path: '^(\\.git|dist|cdktf\\.out|coverage|test-artifacts|\\.scratch|\\.gen|render|\\.secrets|\\.stack|backups|\\.state|\\.terraform)/',
    },
    // `import type` couples layers too.
    tsPreCompilationDeps: true,
    moduleSystems: ['es6', 'cjs'],
    // Resolve packages the way Node and TypeScript do (exports maps, e.g. tsx/esm/api and the
    // Grafana SDK's subpaths), so a package import is a package, not an unresolvable name.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
