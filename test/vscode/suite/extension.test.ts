// The extension-host half of test/e2e's scenarios, through VS Code's API instead of the mouse:
// commands (quick picks answered with workbench commands), the language server's diagnostics and
// code actions, CodeLens. Real agent, real upstream, real HTTP through the tunnel.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as vscode from 'vscode';
import type { BurrowApi } from '../../../client/src/extension';

const EXTENSION_ID = 'burrow.burrow';
const COMMAND_IDS = [
  'burrow.exposePort',
  'burrow.stopTunnel',
  'burrow.restartTunnel',
  'burrow.copyUrl',
  'burrow.openInBrowser',
  'burrow.startFromConfig',
  'burrow.addAuthtoken',
  'burrow.connectEdge',
  'burrow.openInspector',
  'burrow.exportHar',
  'burrow.replayRequest',
  'burrow.copyAsCurl',
  'burrow.clearRequests',
  'burrow.protectBasicAuth',
  'burrow.protectOAuth',
  'burrow.removeProtection',
  'burrow.startTunnelFromConfig',
  'burrow.stopTunnelFromConfig',
];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** GET through the embedded edge: loopback, with the tunnel's Host. */
function tunnelGet(url: string, pathname: string, headers: Record<string, string> = {}): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    http
      .get(
        { host: '127.0.0.1', port: Number(u.port), path: pathname, headers: { host: u.host, ...headers } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      )
      .on('error', reject);
  });
}

async function apiJson<T>(base: string, p: string): Promise<T> {
  return (await (await fetch(`${base}${p}`)).json()) as T;
}

/** Accepts whatever quick pick / input box shows next, `times` times, while `work` runs. */
async function acceptPrompts(work: Thenable<unknown>, times: number): Promise<void> {
  let done = false;
  const finished = Promise.resolve(work).finally(() => (done = true));
  for (let i = 0; i < times && !done; i++) {
    await sleep(700);
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
  }
  await finished;
}

export function registerSuite(): void {
  describe('Burrow extension (extension host)', () => {
    let api: BurrowApi;
    let agent: string;
    let upstream: http.Server;
    let port: number;
    let url: string;

    before(async () => {
      upstream = http.createServer((req, res) => res.end(`hello ${req.url}`));
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      port = (upstream.address() as AddressInfo).port;
      await vscode.workspace
        .getConfiguration('burrow')
        .update('webAddr', '127.0.0.1:0', vscode.ConfigurationTarget.Global);
      const ext = vscode.extensions.getExtension<BurrowApi>(EXTENSION_ID)!;
      api = await ext.activate();
      agent = await api.ensureAgent();
    });
    after(() => new Promise<void>((r) => upstream.close(() => r())));

    it('registers every command', async () => {
      const all = new Set(await vscode.commands.getCommands(true));
      for (const id of COMMAND_IDS) assert.ok(all.has(id), id);
    });

    it('Expose Port: the URL answers and the request is captured; replay adds one', async () => {
      await acceptPrompts(vscode.commands.executeCommand('burrow.exposePort', port), 3);
      const tunnel = await eventually('the tunnel', async () =>
        (await apiJson<{ tunnels: { name: string; public_url: string }[] }>(agent, '/api/tunnels')).tunnels.find(
          (t) => t.name === `http-${port}`,
        ),
      );
      url = tunnel.public_url;
      assert.equal(await tunnelGet(url, '/vscode/hello'), 200);
      const captured = await eventually('the capture', async () =>
        (
          await apiJson<{ requests: { id: string; request: { uri: string } }[] }>(agent, '/api/requests/http')
        ).requests.find((r) => r.request.uri === '/vscode/hello'),
      );
      await vscode.commands.executeCommand('burrow.replayRequest', captured.id);
      await eventually(
        'the replay',
        async () =>
          (await apiJson<{ requests: { request: { uri: string } }[] }>(agent, '/api/requests/http')).requests.filter(
            (r) => r.request.uri === '/vscode/hello',
          ).length >= 2,
      );
    });

    it('Protect with Basic Auth: 401 without credentials, 200 with them', async () => {
      await vscode.env.clipboard.writeText('');
      await acceptPrompts(vscode.commands.executeCommand('burrow.protectBasicAuth', `http-${port}`), 3);
      const creds = await eventually(
        'credentials on the clipboard',
        async () => /^([^:]+):(.+)$/.exec(await vscode.env.clipboard.readText()) ?? undefined,
      );
      assert.equal(await tunnelGet(url, '/private'), 401);
      assert.equal(
        await tunnelGet(url, '/private', {
          authorization: `Basic ${Buffer.from(`${creds[1]}:${creds[2]}`).toString('base64')}`,
        }),
        200,
      );
    });

    it('ngrok.yml: a diagnostic, its quick fix, then CodeLens Start brings the tunnel online', async () => {
      const folder = process.env.BURROW_VSCODE_TEST_WORKSPACE!;
      fs.mkdirSync(folder, { recursive: true });
      const file = path.join(folder, 'ngrok.yml');
      fs.writeFileSync(
        file,
        `version: "2"\ntunnels:\n  lens-vscode:\n    proto: http\n    addr: ${port}\n    hostname: lens-vscode.localhost\n`,
      );
      const doc = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(doc);
      assert.equal(doc.languageId, 'ngrok-yaml');
      const diag = await eventually('the hostname diagnostic', () =>
        vscode.languages.getDiagnostics(doc.uri).find((d) => /hostname/.test(d.message)),
      );
      const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
        'vscode.executeCodeActionProvider',
        doc.uri,
        diag.range,
        vscode.CodeActionKind.QuickFix.value,
      );
      const fix = actions.find((a) => /domain/.test(a.title));
      assert.ok(fix?.edit, 'a quick fix with an edit');
      await vscode.workspace.applyEdit(fix.edit);
      await eventually(
        'the diagnostic gone',
        () => !vscode.languages.getDiagnostics(doc.uri).some((d) => /hostname/.test(d.message)),
      );
      await doc.save();

      const lenses = await eventually('a Start lens', async () =>
        (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri)).find((l) =>
          /Start/.test(l.command?.title ?? ''),
        ),
      );
      await vscode.commands.executeCommand(lenses.command!.command, ...(lenses.command!.arguments ?? []));
      const tunnel = await eventually('lens-vscode online', async () =>
        (await apiJson<{ tunnels: { name: string; public_url: string }[] }>(agent, '/api/tunnels')).tunnels.find(
          (t) => t.name === 'lens-vscode',
        ),
      );
      assert.equal(new URL(tunnel.public_url).hostname, 'lens-vscode.localhost');
      assert.equal(await tunnelGet(tunnel.public_url, '/lens'), 200);
    });
  });
}
