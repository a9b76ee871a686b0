// The inspector in a real browser (Debian's chromium via playwright-core) against a real agent:
// a request appears live, opens, replays (plain and edited), copies as curl, downloads HAR.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { eventually, request, startRig, startUpstream, throughTunnel, type Rig, type Upstream } from './api-support';

// BURROW_UPDATE_SCREENSHOTS=1 rewrites it.
const SCREENSHOT = path.resolve(__dirname, '../../docs/img/inspector.png');

describe('inspector in headless Chromium', function () {
  this.timeout(60_000);
  let browser: Browser;
  let rig: Rig;
  let up: Upstream;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    assert.ok(
      fs.existsSync(path.resolve(__dirname, '../../dist/inspector/inspector.js')),
      'build first (node scripts/build.mjs)',
    );
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    rig = await startRig();
    up = await startUpstream('shop');
    const r = await request(rig.apiPort, 'POST', '/api/tunnels', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shop', proto: 'http', addr: up.port }),
    });
    assert.equal(r.status, 201, r.text);
    const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: rig.api.url });
    page = await context.newPage();
    pageErrors.length = 0;
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(rig.api.url + '/');
    await page.locator('.conn.open').waitFor({ timeout: 10_000 });
  });
  afterEach(async () => {
    await page?.context().close();
    await rig.close();
    await up.close();
  });

  it('shows a request live, opens it, and replays it through the agent', async () => {
    await page.getByText('Waiting for requests…').waitFor();
    await throughTunnel(rig, 'shop', 'POST', '/orders?coupon=SPRING', {
      headers: { 'content-type': 'application/json', 'x-client': 'inspector-test' },
      body: JSON.stringify({ item: 'carrot', qty: 3, gift: false, note: null }),
    });
    const row = page.locator('.row', { hasText: '/orders?coupon=SPRING' });
    await row.waitFor();
    await row.locator('.status', { hasText: '200' }).waitFor();
    await row.click();

    const detail = page.locator('.detail');
    await detail.locator('.title', { hasText: 'POST /orders?coupon=SPRING' }).waitFor();
    // Pretty JSON with highlighted keys; query parameters in a table.
    await detail.locator('.body-json .j-key', { hasText: '"item"' }).waitFor();
    assert.match(await detail.locator('.body-json').first().innerText(), /"qty": 3/);
    await detail.locator('table.kv td', { hasText: 'SPRING' }).waitFor();
    await page.getByRole('tab', { name: 'Headers' }).click();
    await detail.locator('table.kv th', { hasText: 'x-client' }).waitFor();
    await page.getByRole('tab', { name: 'Raw' }).click();
    assert.match(await detail.locator('pre.raw-text').first().innerText(), /^POST \/orders\?coupon=SPRING HTTP\/1\.1/);

    // Replay: the upstream sees it again and the new capture appears, selected, marked as a replay.
    await page.locator('[data-action=replay]').click();
    await eventually(() => up.seen.length === 2, 'replay at the upstream');
    assert.equal(up.seen[1].url, '/orders?coupon=SPRING');
    assert.deepEqual(JSON.parse(up.seen[1].body.toString()), { item: 'carrot', qty: 3, gift: false, note: null });
    await page.locator('.row.selected .badge', { hasText: 'replay' }).waitFor();
    assert.equal(await page.locator('.row').count(), 2);
    assert.deepEqual(pageErrors, [], 'no script or CSP errors');
  });

  it("shows the traffic policy's log entries in the summary", async () => {
    const r = await request(rig.apiPort, 'POST', '/api/endpoints', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'logged',
        url: 'http://logged.localhost',
        upstream: { url: String(up.port), protocol: 'http1' },
        traffic_policy: {
          on_http_request: [
            { actions: [{ type: 'log', config: { metadata: { path: '${req.url.path}', team: 'web' } } }] },
          ],
        },
      }),
    });
    assert.equal(r.status, 201, r.text);
    await throughTunnel(rig, 'logged', 'GET', '/audited');
    const row = page.locator('.row', { hasText: '/audited' });
    await row.locator('.status', { hasText: '200' }).waitFor();
    await row.click();
    const detail = page.locator('.detail');
    await detail.locator('h3', { hasText: 'Traffic policy log (1)' }).waitFor();
    assert.deepEqual(JSON.parse(await detail.locator('pre.policy-log').innerText()), { path: '/audited', team: 'web' });
    // A request without log entries shows no such section.
    await throughTunnel(rig, 'shop', 'GET', '/plain');
    await page.locator('.row', { hasText: '/plain' }).click();
    await detail.locator('.title', { hasText: 'GET /plain' }).waitFor();
    assert.equal(await detail.locator('pre.policy-log').count(), 0);
    assert.deepEqual(pageErrors, [], 'no script or CSP errors');
  });

  it('edits then replays, filters the list, copies as curl and downloads HAR', async () => {
    await throughTunnel(rig, 'shop', 'GET', '/catalog', { headers: { accept: 'application/json' } });
    await throughTunnel(rig, 'shop', 'POST', '/cart', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'sku=42&qty=2',
    });
    await page.locator('.row', { hasText: '/cart' }).click();
    await page.locator('.detail table.kv td', { hasText: /^42$/ }).waitFor(); // form body as a table

    await page.locator('[data-action=edit]').click();
    await page.locator('form.edit input[name=method]').fill('PUT');
    await page.locator('form.edit input[name=uri]').fill('/cart/7');
    await page.locator('form.edit textarea[name=body]').fill('sku=42&qty=5');
    await page.locator('[data-action=send-edited]').click();
    await eventually(() => up.seen.length === 3, 'edited replay at the upstream');
    assert.equal(up.seen[2].method, 'PUT');
    assert.equal(up.seen[2].url, '/cart/7');
    assert.equal(up.seen[2].body.toString(), 'sku=42&qty=5');
    await page.locator('.row.selected', { hasText: '/cart/7' }).waitFor();

    // Filters: method and path narrow the list.
    await page.locator('[data-filter=method]').selectOption('PUT');
    await eventually(async () => (await page.locator('.row').count()) === 1, 'method filter');
    await page.locator('[data-filter=method]').selectOption('');
    await page.locator('[data-filter=path]').fill('catalog');
    await eventually(async () => (await page.locator('.row').count()) === 1, 'path filter');
    await page.locator('[data-filter=path]').fill('');
    await page.locator('[data-filter=text]').fill('x-www-form');
    await eventually(async () => (await page.locator('.row').count()) === 2, 'text filter over headers');
    await page.locator('[data-filter=text]').fill('');

    await page.locator('.row', { hasText: '/catalog' }).click();
    await page.locator('.detail .title', { hasText: 'GET /catalog' }).waitFor();
    await page.locator('[data-action=curl]').click();
    const clip = await eventually(async () => {
      const text = await page.evaluate(() => navigator.clipboard.readText());
      return text.startsWith('curl ') && text;
    }, 'curl on the clipboard');
    assert.match(clip, /\/catalog'/);
    assert.match(clip, /-H 'accept: application\/json'/);

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-action=har]').click()]);
    assert.match(download.suggestedFilename(), /^request-[0-9a-f]{16}\.har$/);
    const har = JSON.parse(fs.readFileSync(await download.path(), 'utf8')) as {
      log: { entries: { request: { method: string } }[] };
    };
    assert.equal(har.log.entries.length, 1);
    assert.equal(har.log.entries[0].request.method, 'GET');

    // A picture of the inspector with data for the docs, refreshed on request only (no churn in CI).
    await page.locator('.row', { hasText: '/cart/7' }).click();
    await page.locator('.detail .title', { hasText: 'PUT /cart/7' }).waitFor();
    if (process.env.BURROW_UPDATE_SCREENSHOTS) {
      await page.locator('.toast').waitFor({ state: 'detached' });
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
    }
    assert.deepEqual(pageErrors, [], 'no script or CSP errors');
  });
});
