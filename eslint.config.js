// Lint rules for connector/, emulator/, test/ and bench/: typescript-eslint's recommended set, plus the few
// rules that catch this codebase's real hazards (floating promises lose errors; a stray console.log on stdout
// corrupts the Airbyte message stream).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Tests build odd values on purpose (numbers past double precision, untyped protocol fixtures).
    files: ['test/**/*.ts'],
    rules: { 'no-console': 'off', 'no-loss-of-precision': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The demo prints to a terminal; the emulator's entry logs to stderr; neither writes Airbyte messages.
    files: ['connector/demo.ts', 'emulator/main.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
