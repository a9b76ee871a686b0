// The edge's own state: edges, routes, backends, reserved domains and addresses, IP policies,
// credentials, TLS certificates and endpoint configurations,
// kept in memory and persisted as one JSON file in the state directory. Every write goes to a
// temporary file that is fsynced and renamed over the old one, so a crash leaves either the old
// state or the new one, never half a file. The file is mode 0600: it holds OAuth client secrets
// and the cookie key (authtokens only as sha256 digests).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { EdgeState } from './types';

export const STATE_FILE = 'edge-state.json';

export function emptyState(): EdgeState {
  return {
    version: 1,
    https_edges: [],
    backends: { tunnel_group: [], failover: [], weighted: [], http_response: [] },
    reserved_domains: [],
    ip_policies: [],
    ip_policy_rules: [],
    credentials: [],
    tls_certificates: [],
    reserved_addrs: [],
    endpoint_configurations: [],
    cookie_secret: randomBytes(32).toString('hex'),
  };
}

export class StateFileError extends Error {
  readonly code = 'ERR_BURROW_EDGE_STATE';
}

/**
 * Where the state lives instead of the file (the cluster's Redis, edge/cluster/state.ts). `save`
 * may throw (the change is then rolled back); changes made elsewhere arrive through onRemoteChange.
 */
export interface StateBacking {
  save(state: EdgeState): void;
  onRemoteChange(apply: (collections: Record<string, unknown>) => void): void;
}

export class EdgeStore extends EventEmitter<{ change: [] }> {
  private constructor(
    readonly state: EdgeState,
    private readonly file: string | undefined,
    private readonly backing?: StateBacking,
  ) {
    super();
    backing?.onRemoteChange((collections) => {
      Object.assign(this.state, collections);
      this.emit('change');
    });
  }

  /** Kept by `backing` (already loaded into `state`), not in a file. */
  static backed(state: EdgeState, backing: StateBacking): EdgeStore {
    return new EdgeStore(state, undefined, backing);
  }

  /** In memory only (tests, or an edge without --state-dir). */
  static memory(): EdgeStore {
    return new EdgeStore(emptyState(), undefined);
  }

  /** Loads `dir/edge-state.json` (created on first write); a file that does not parse is an error, never reset. */
  static open(dir: string): EdgeStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, STATE_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new StateFileError(`cannot read ${file}: ${(err as Error).message}`);
    }
    if (text === undefined) return new EdgeStore(emptyState(), file);
    let state: EdgeState;
    try {
      state = JSON.parse(text) as EdgeState;
    } catch (err) {
      throw new StateFileError(
        `${file} is not valid JSON (${(err as Error).message}); restore it from a backup or move it away`,
      );
    }
    if (state?.version !== 1) throw new StateFileError(`${file}: unknown state version ${String(state?.version)}`);
    return new EdgeStore(
      { ...emptyState(), ...state, backends: { ...emptyState().backends, ...state.backends } },
      file,
    );
  }

  get cookieSecret(): Buffer {
    return Buffer.from(this.state.cookie_secret, 'hex');
  }

  /**
   * Runs `change` on the state and commits; if it throws (a failed check), the state is restored
   * as it was and nothing is committed.
   */
  transact<T>(change: () => T): T {
    const before = structuredClone(this.state);
    try {
      const result = change();
      this.commit();
      return result;
    } catch (err) {
      Object.assign(this.state, before);
      throw err;
    }
  }

  /** Persists (atomically) and tells listeners (the router rebuilds its tables). */
  commit(): void {
    this.backing?.save(this.state);
    if (this.file) {
      const tmp = `${this.file}.${process.pid}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(this.state, null, 2)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    }
    this.emit('change');
  }
}
