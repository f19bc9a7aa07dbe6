// Type-aware lint: promises that are never awaited or are misused, switches that miss a case.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', '.dist-*/', 'node_modules/', 'test/fixtures/**/*.mjs', 'eslint.config.js'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself tracks.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  // The layers (README, Architecture): the pure domain knows nothing of ours but errors; client-facing fronts
  // and backends never know each other's transport.
  layer('src/domain/**/*.ts', ['../*', '!../domain/*', '!../errors.js'], 'domain/ is pure: no I/O modules of ours'),
  layer('src/fronts/**/*.ts', ['../backends/*'], 'fronts/ never import backends/'),
  layer('src/backends/**/*.ts', ['../fronts/*', '../router/*'], 'backends/ never import fronts/ or router/'),
  layer('src/sessions/**/*.ts', ['../router/*'], 'sessions/ (the core) never imports router/ (the wiring)'),
);

/** A `no-restricted-imports` rule for the files of one layer. */
function layer(files, group, message) {
  return { files: [files], rules: { 'no-restricted-imports': ['error', { patterns: [{ group, message }] }] } };
}
