// `burrow service install|start|stop|uninstall --config FILE`: run the agent as a systemd service,
// system-wide when root, as a user unit otherwise (ngrok's "run as a service").
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const UNIT_NAME = 'burrow.service';

export class ServiceError extends Error {
  readonly code = 'ERR_BURROW_SERVICE';
}

export interface ServiceTarget {
  /** true → `systemctl --user` and ~/.config/systemd/user. */
  user: boolean;
  unitDir: string;
}

export function serviceTarget(env: NodeJS.ProcessEnv = process.env): ServiceTarget {
  const user = typeof process.getuid === 'function' ? process.getuid() !== 0 : true;
  // BURROW_SYSTEMD_UNIT_DIR lets packagers (and tests) put the unit elsewhere.
  const unitDir =
    env.BURROW_SYSTEMD_UNIT_DIR ??
    (user
      ? path.join(env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'systemd', 'user')
      : '/etc/systemd/system');
  return { user, unitDir };
}

/**
 * The unit text: the same node and bundle that run this command, `start --all` on the config files.
 * The bundle is this file's own (`__filename` is dist/burrow.js once bundled), by its real path: argv[1]
 * may be bin/burrow, an npx shim or a symlink that moves with the next install.
 */
export function unitFile(configs: string[], target: ServiceTarget, script = fs.realpathSync(__filename)): string {
  const quote = (s: string) => (/[\s"\\]/.test(s) ? `"${s.replace(/["\\]/g, '\\$&')}"` : s);
  const exec = [
    process.execPath,
    path.resolve(script),
    'start',
    '--all',
    ...configs.flatMap((c) => ['--config', path.resolve(c)]),
    '--log',
    'stdout',
  ]
    .map(quote)
    .join(' ');
  return `[Unit]
Description=Burrow tunnel agent
Documentation=burrow help
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${exec}
Restart=on-failure
RestartSec=2
${target.user ? '' : 'NoNewPrivileges=true\n'}
[Install]
WantedBy=${target.user ? 'default.target' : 'multi-user.target'}
`;
}

function systemctl(target: ServiceTarget, ...args: string[]): void {
  try {
    execFileSync('systemctl', [...(target.user ? ['--user'] : []), ...args], { stdio: ['ignore', 'inherit', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new ServiceError('systemctl not found: services need systemd (Linux)');
    throw new ServiceError(`systemctl ${args.join(' ')} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

export function runService(action: string | undefined, configs: string[], out: NodeJS.WritableStream): number {
  if (process.platform !== 'linux')
    throw new ServiceError(`burrow service supports Linux (systemd) only, not ${process.platform}`);
  const target = serviceTarget();
  const unitPath = path.join(target.unitDir, UNIT_NAME);
  switch (action) {
    case 'install': {
      if (configs.length === 0)
        throw new ServiceError('burrow service install needs --config FILE (the tunnels to start)');
      for (const c of configs) if (!fs.existsSync(c)) throw new ServiceError(`config file not found: ${c}`);
      fs.mkdirSync(target.unitDir, { recursive: true });
      fs.writeFileSync(unitPath, unitFile(configs, target));
      systemctl(target, 'daemon-reload');
      systemctl(target, 'enable', UNIT_NAME);
      out.write(`Installed ${unitPath}; start it with: burrow service start\n`);
      return 0;
    }
    case 'start':
    case 'stop':
    case 'restart':
      if (!fs.existsSync(unitPath))
        throw new ServiceError(`not installed (${unitPath} missing): run burrow service install --config FILE`);
      systemctl(target, action, UNIT_NAME);
      return 0;
    case 'uninstall':
      if (!fs.existsSync(unitPath)) throw new ServiceError(`not installed (${unitPath} missing)`);
      systemctl(target, 'disable', '--now', UNIT_NAME);
      fs.rmSync(unitPath);
      systemctl(target, 'daemon-reload');
      out.write(`Removed ${unitPath}\n`);
      return 0;
    default:
      throw new ServiceError(
        `unknown service action "${action ?? ''}": use install, start, stop, restart or uninstall`,
      );
  }
}
