// One linter (ESLint + typescript-eslint), one formatter (Prettier, run by `make lint`).
// Besides the recommended rules, this enforces the layering of DESIGN.md: statemachines/ is
// pure (xstate and its own files only); agent/ ← bootstrap/, appliance/; another folder is
// reached only through a front door (an index.js).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// A folder's front door is its index.js, or the index.js of one of its subfolders (so the CLI
// can load just the IPMI client, not all of bootstrap/).
const frontDoor = (...folders) => ({
  regex: `(^|/)(${folders.join('|')})/(?!([^/]+/)?index\\.js$)`,
  message: "Reach another folder only through its front door (index.js, or a subfolder's index.js).",
});

/** The dashboard's browser code, and the browser globals that code alone may use. */
const WEB = 'appliance/api/dashboard/web';
const BROWSER_GLOBALS = [
  'window',
  'document',
  'navigator',
  'location',
  'sessionStorage',
  'localStorage',
  'HTMLElement',
];

const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/build/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['**/*.js'], languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } } },
  {
    rules: {
      // A type-only import must be `import type`: under verbatimModuleSyntax, `import { type X }`
      // still loads the module, which defeats the CLI's lazy loading of verb implementations.
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['statemachines/**'],
    rules: restrict({
      regex: '^(?!xstate(/|$)|\\./)',
      message: 'statemachines/ is pure: it imports only xstate and its own files (no node:*, no I/O, no other folder).',
    }),
  },
  {
    files: ['agent/**'],
    rules: restrict(
      { group: ['**/bootstrap/**', '**/appliance/**'], message: 'agent/ may not depend on bootstrap/ or appliance/.' },
      frontDoor('statemachines'),
    ),
  },
  {
    files: ['bootstrap/**'],
    rules: restrict(
      { group: ['**/appliance/**'], message: 'bootstrap/ may not depend on appliance/; the CLI composes them.' },
      frontDoor('statemachines', 'agent'),
    ),
  },
  { files: ['appliance/**'], rules: restrict(frontDoor('statemachines', 'agent', 'bootstrap')) },
  // The dashboard's browser code is loaded by the browser as compiled: it imports only its own
  // modules. The rest runs in Node.js, where the DOM's globals (in the shared lib) do not exist.
  {
    files: [`${WEB}/**`],
    rules: restrict({
      regex: '^(?!\\./)',
      message: "The dashboard's browser code imports only its own modules (web/), which the browser loads as they are.",
    }),
  },
  // (Tests and benchmarks may: they hand functions to the browser they drive, page.evaluate.)
  {
    files: ['agent/**', 'appliance/**', 'bootstrap/**', 'statemachines/**'],
    ignores: [`${WEB}/**`],
    rules: {
      'no-restricted-globals': [
        'error',
        ...BROWSER_GLOBALS.map((name) => ({ name, message: `${name} is a browser's: only ${WEB}/ runs in one.` })),
      ],
    },
  },
);
