// The heavy libraries the extension uses only after activation (the language client, YAML editing,
// the agent's event stream). The extension build puts them in their own bundle,
// dist/extension-libs.js, loaded on first use (lazyLibs.ts), so activating loads a small file.
export * as languageClient from 'vscode-languageclient/node';
export * as yaml from 'yaml';
export { WebSocket } from 'ws';
