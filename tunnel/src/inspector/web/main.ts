// Inspector entry point (bundled to dist/inspector/inspector.js as a browser IIFE).
//
// Boot configuration, first match wins:
//   window.BURROW_INSPECTOR_CONFIG = { apiBase?: string, transport?: Transport, vscode?: PostMessageTarget }
//   <body data-api="http://127.0.0.1:4040">   (empty = same origin)
// The VS Code webview passes `vscode: acquireVsCodeApi()` (or its own transport) so every call goes
// through the extension host over postMessage; no inline script is needed anywhere (strict CSP).

import { InspectorApp } from './app';
import { HttpTransport, PostMessageTransport, type PostMessageTarget, type Transport } from './transport';

export interface InspectorConfig {
  apiBase?: string;
  transport?: Transport;
  vscode?: PostMessageTarget;
  /** Element to mount into (default #burrow-inspector, else body). */
  root?: HTMLElement;
}

declare global {
  interface Window {
    BURROW_INSPECTOR_CONFIG?: InspectorConfig;
    burrowInspector?: { boot(config?: InspectorConfig): InspectorApp };
  }
}

export function boot(config: InspectorConfig = {}): InspectorApp {
  const root = config.root ?? document.getElementById('burrow-inspector') ?? document.body;
  const transport =
    config.transport ??
    (config.vscode
      ? new PostMessageTransport(config.vscode)
      : new HttpTransport(config.apiBase ?? document.body.dataset.api ?? ''));
  const app = new InspectorApp(root, transport);
  app.start();
  return app;
}

window.burrowInspector = { boot };
// A host page that wants to configure later sets data-manual-boot on <body> and calls boot itself.
if (!document.body.hasAttribute('data-manual-boot')) boot(window.BURROW_INSPECTOR_CONFIG);
