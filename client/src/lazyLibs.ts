// The libraries of libs.ts, each loaded on first use: in the extension from their own bundle next
// to dist/extension.js (the build defines BURROW_LIBS_BUNDLE), in tests straight from node_modules
// (one at a time: the language client needs a VS Code to load).
/* eslint-disable @typescript-eslint/no-require-imports */
import type * as Libs from './libs';

const bundled = process.env.BURROW_LIBS_BUNDLE === 'extension-libs.js';
const fromBundle = (): typeof Libs => require('./extension-libs.js') as typeof Libs;

export const lazyLibs = {
  languageClient: (): typeof Libs.languageClient =>
    bundled ? fromBundle().languageClient : require('vscode-languageclient/node'),
  yaml: (): typeof Libs.yaml => (bundled ? fromBundle().yaml : require('yaml')),
  WebSocket: (): typeof Libs.WebSocket => (bundled ? fromBundle().WebSocket : require('ws').WebSocket),
};
