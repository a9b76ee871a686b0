// `burrow service`: the unit file it writes and the systemctl calls it makes. systemd cannot run in
// this container, so a stand-in `systemctl` on PATH (a shell script that records its arguments)
// takes its place; the unit file itself is checked with `systemd-analyze verify` when available.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve(__dirname, '../../dist/burrow.js');

describe('burrow service (stand-in systemctl)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'burrow-service-'));
  const unitDir = path.join(dir, 'units');
  const binDir = path.join(dir, 'bin');
  const calls = path.join(dir, 'calls.log');
  const config = path.join(dir, 'ngrok.yml');
  fs.mkdirSync(binDir);
  fs.writeFileSync(path.join(binDir, 'systemctl'), `#!/bin/sh\necho "$@" >> ${JSON.stringify(calls)}\n`, {
    mode: 0o755,
  });
  fs.writeFileSync(config, 'version: "2"\ntunnels:\n  web:\n    proto: http\n    addr: 3000\n');
  const burrow = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, 'service', ...args], {
      env: { ...process.env, PATH: `${binDir}:${process.env.PATH}`, BURROW_SYSTEMD_UNIT_DIR: unitDir },
      encoding: 'utf8',
    });
  const user = process.getuid?.() !== 0 ? '--user ' : '';

  it('install writes a unit that starts every tunnel of the config, then reloads and enables it', () => {
    const r = burrow('install', '--config', config);
    assert.equal(r.status, 0, r.stderr);
    const unit = fs.readFileSync(path.join(unitDir, 'burrow.service'), 'utf8');
    assert.match(
      unit,
      new RegExp(
        `^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\S*dist/burrow\\.js start --all --config ${config.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} --log stdout$`,
        'm',
      ),
    );
    assert.match(unit, /^Restart=on-failure$/m);
    assert.match(unit, /^WantedBy=(multi-user|default)\.target$/m);
    assert.deepEqual(fs.readFileSync(calls, 'utf8').trim().split('\n'), [
      `${user}daemon-reload`,
      `${user}enable burrow.service`,
    ]);
  });

  it('start/stop call systemctl; uninstall disables and removes the unit', () => {
    fs.rmSync(calls, { force: true });
    assert.equal(burrow('start').status, 0);
    assert.equal(burrow('stop').status, 0);
    assert.equal(burrow('uninstall').status, 0);
    assert.ok(!fs.existsSync(path.join(unitDir, 'burrow.service')));
    assert.deepEqual(fs.readFileSync(calls, 'utf8').trim().split('\n'), [
      `${user}start burrow.service`,
      `${user}stop burrow.service`,
      `${user}disable --now burrow.service`,
      `${user}daemon-reload`,
    ]);
  });

  it('refuses without --config, with a missing file, or when not installed (exit 2, coded)', () => {
    for (const args of [['install'], ['install', '--config', path.join(dir, 'nope.yml')], ['start'], ['frobnicate']]) {
      const r = burrow(...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, /ERR_BURROW_SERVICE/);
    }
  });
});
