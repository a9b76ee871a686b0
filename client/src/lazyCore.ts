// core.ts, loaded on first use by extension.ts: in the extension from its own bundle next to
// dist/extension.js (the build defines BURROW_CORE_BUNDLE), under tsx from the source.
/* eslint-disable @typescript-eslint/no-require-imports */
import type * as CoreModule from './core';

const bundled = process.env.BURROW_CORE_BUNDLE === 'extension-core.js';

export const lazyCore = (): typeof CoreModule =>
  bundled ? (require('./extension-core.js') as typeof CoreModule) : (require('./core') as typeof CoreModule);
