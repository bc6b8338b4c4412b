// ESLint (flat config) run by `npm run lint` and by `npm test`. Deliberately modest: the
// rules that catch real bugs in this code base (unawaited promises, workflow sandbox
// escapes), not a style guide.
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: it may import the workflow SDK,
// its own modules, pure domain code and types. Anything else (database, HTTP, node:*,
// @temporalio/client|worker|activity|common, zod) must stay out of the bundle.
// One named exception: the search-attribute keys, a deterministic definitions module shared
// with the API and the setup command.
const workflowImports = {
  patterns: [
    {
      regex: '^(?!@temporalio/workflow$|\\./|\\.\\./src/domain/|\\.\\./src/temporal/searchAttributes$)',
      allowTypeImports: true,
      message:
        'workflows/ may import only @temporalio/workflow, its own modules, src/domain/ and types (import type …): the workflow sandbox must stay deterministic.',
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.temporal/**', '.data/**', 'test-results/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-debugger': 'error',
      'no-dupe-keys': 'error',
      'no-unreachable': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', workflowImports],
    },
  },
);
