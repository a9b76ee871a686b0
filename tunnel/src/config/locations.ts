// Where ngrok (and so Burrow) looks for its config file when no --config is given.
import path from 'node:path';

export interface LocationOptions {
  platform?: NodeJS.Platform;
  env?: Record<string, string | undefined>;
  home?: string;
}

/** The current default file: Linux `~/.config/ngrok/ngrok.yml` (XDG_CONFIG_HOME honoured), macOS
 * `~/Library/Application Support/ngrok/ngrok.yml`, Windows `%LocalAppData%\ngrok\ngrok.yml`. */
export function defaultConfigPath(opts: LocationOptions = {}): string {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? env.USERPROFILE ?? '';
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA ?? path.win32.join(home, 'AppData', 'Local');
    return path.win32.join(local, 'ngrok', 'ngrok.yml');
  }
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', 'ngrok', 'ngrok.yml');
  const xdg = env.XDG_CONFIG_HOME;
  return path.posix.join(xdg && xdg.startsWith('/') ? xdg : path.posix.join(home, '.config'), 'ngrok', 'ngrok.yml');
}

/** Agent 2.x's file, read when the current default file does not exist. */
export function legacyConfigPath(opts: LocationOptions = {}): string {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? env.USERPROFILE ?? '';
  return (platform === 'win32' ? path.win32 : path.posix).join(home, '.ngrok2', 'ngrok.yml');
}
