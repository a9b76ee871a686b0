// ESLint (flat config): typescript-eslint's recommended rules over every process's sources and the tests.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', '.e2e/', '.bench/', 'test-results/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        clearImmediate: 'readonly',
        URL: 'readonly',
        URLSearchParams: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        Response: 'readonly',
        Request: 'readonly',
        Headers: 'readonly',
        FormData: 'readonly',
        Blob: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        __filename: 'readonly',
        globalThis: 'readonly',
        window: 'readonly',
        document: 'readonly',
        navigator: 'readonly',
        location: 'readonly',
        history: 'readonly',
        EventSource: 'readonly',
        WebSocket: 'readonly',
        crypto: 'readonly',
        atob: 'readonly',
        btoa: 'readonly',
      },
    },
    rules: {
      // A `let` read by a closure before its one assignment, or destructured beside reassigned names, stays a `let`.
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
      // Unused names are errors, except deliberate `_`-prefixed ones (callbacks with a fixed signature).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Header, cookie and credential validators match control characters on purpose.
    rules: { 'no-control-regex': 'off' },
  },
  {
    // LSP's idiom: each custom request is a namespace holding its type and method (as vscode-eslint).
    files: ['server/src/protocol.ts'],
    rules: { '@typescript-eslint/no-namespace': 'off' },
  },
  {
    // The extension imports `vscode` as `import vscode = require('vscode')` (a plain require in the
    // bundle: scripts/build.mjs says why).
    files: ['client/src/**'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }] },
  },
  {
    // Tests load JSON fixtures and Node built-ins inline; expected output spells its spaces literally.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-regex-spaces': 'off' },
  },
  {
    // Plain CommonJS scripts (the bin, the mocha reporter).
    files: ['**/*.js', 'bin/burrow'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
