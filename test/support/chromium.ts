// Headless Chromium for the browser tests: Debian's package (`npm run setup` installs it), driven by
// playwright-core, which downloads no browser. A machine without it gets one line naming the set-up
// command instead of a stack trace.
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** An Error that mocha prints as its message alone (it prints `stack` when there is one). */
function oneLine(message: string): Error {
  const err = new Error(message);
  err.stack = message;
  return err;
}

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw oneLine(`${CHROMIUM} is missing: run npm run setup (installs Debian's chromium)`);
  try {
    return await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw oneLine(`${CHROMIUM} did not start (${first}): run npm run setup`);
  }
}
