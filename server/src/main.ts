// Entry point of the language server bundle (dist/server.js). `createConnection` picks the
// transport from argv: `--stdio`, `--node-ipc` (what VS Code's TransportKind.ipc passes) or
// `--socket=PORT`.
import { ProposedFeatures, createConnection } from 'vscode-languageserver/node';
import { startServer } from './server';

startServer(createConnection(ProposedFeatures.all));
