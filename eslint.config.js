// ESLint (flat config), run by `npm test` after tsc: rules that catch real bugs (a promise nobody awaits, an async
// callback where a sync one is expected, `==`, a switch that forgets a case, throwing or rejecting a non-Error, a
// dead store, an unused name), type-aware through the same tsconfig.json as tsc. Layout and style are not linted.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // .ci/consumer/ is compiled and run by .ci/run inside a fresh project against the packed package.
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/', '.ci/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'always'],
      // A `let` assigned once, after a closure that reads it later was built, cannot be a `const`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // A switch over a union must name every member, unless it has a `default` on purpose.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/only-throw-error': 'error',
      // Passing on a caught value (`unknown`) is allowed; rejecting with a fresh non-Error is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Off: an `async` method that does not await is how a port implementation turns a synchronous throw into a
      // rejection (the contract callers rely on); flagging it would push code toward the bug it avoids.
      '@typescript-eslint/require-await': 'off',
      // Off: `Input | unknown` in a signature that takes untrusted input documents the shape it expects.
      '@typescript-eslint/no-redundant-type-constituents': 'off',
      // Off: a cast tsc calls redundant can still steer xstate's inference (its autofix turned typed machine context
      // into `any` in machines/); it is style, not a bug.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // Tests read log lines and relayed messages as parsed JSON (`any`) and hand methods to vitest's `expect`; the
    // assertions on them are the type check there.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // Plain JavaScript (this file, the CI consumer scripts, test fixtures run as child processes) runs on Node and
    // has no type information.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
        require: 'readonly',
        module: 'writable',
      },
    },
  },
);
