// Boots the agent's inspector (dist/inspector/inspector.js) inside a VS Code webview: every API call
// and the event stream go over postMessage to the extension host (PostMessageTransport). The host
// may also send {burrow: 'select', id} when a request is picked in the Tunnels tree.
// Loaded with a CSP nonce; no inline script anywhere.
/* global acquireVsCodeApi */
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const app = window.burrowInspector.boot({ vscode });
  const mode = document.body.dataset.mode;

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.burrow !== 'select' || typeof m.id !== 'string') return;
    // InspectorApp.select is the same method a click on a row calls.
    if (typeof app.select === 'function') app.select(m.id);
    document.body.classList.add('has-selection');
  });

  if (mode === 'sidebar') {
    // The tree is the list here; offer the full inspector (list, filters) as an editor tab.
    const bar = document.createElement('div');
    bar.className = 'host-bar';
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'btn';
    open.dataset.action = 'open-in-editor';
    open.textContent = 'Open in Editor';
    open.addEventListener('click', () => vscode.postMessage({ burrow: 'openInEditor' }));
    bar.append(open);
    document.body.prepend(bar);
  }
  vscode.postMessage({ burrow: 'ready' });
})();
