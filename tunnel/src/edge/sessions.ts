// Who is connected: one entry per live agent session, whatever protocol it came in by. The admin
// API's `/tunnel_sessions` lists these in ngrok's TunnelSession shape. A protocol front end calls
// `add()` once the session is authenticated and the returned `remove()` when it ends; `extra`
// carries fields another part wants shown (e.g. the cluster node holding the session).
import { newId } from './admin/ids';

export interface TunnelSessionEntry {
  /** `ts_…`, ngrok's id prefix for tunnel sessions. */
  id: string;
  agent_version: string;
  os: string;
  /** The agent's address as the edge saw it. */
  ip: string;
  region: string;
  started_at: string;
  /** `cr_…` when the agent authenticated with an admin-API credential, else null (tokens file). */
  credential_id: string | null;
  /** How the agent is connected: `burrow/ws`, `burrow/in-process`, `ngrok/muxado`, … */
  transport: string;
  metadata: string;
  hostname?: string;
  /** Extra read-only fields merged into the API object. */
  extra?: Record<string, unknown>;
}

/**
 * What the admin API's `POST /tunnel_sessions/{id}/stop|restart|update` ask of a live session
 * (ngrok's Stop, Restart and Update commands). Each resolves once the agent agreed and rejects
 * with `{code, message}` when it refused, did not answer, or cannot do that.
 */
export interface SessionControl {
  stop(): Promise<void>;
  restart(): Promise<void>;
  update(): Promise<void>;
}

export type NewSession = Omit<TunnelSessionEntry, 'id' | 'started_at' | 'region' | 'metadata'> &
  Partial<Pick<TunnelSessionEntry, 'region' | 'metadata'>> & {
    /** How the admin API stops / restarts / updates it (kept beside the entry, never rendered). */
    control?: SessionControl;
  };

export class SessionRegistry {
  private readonly entries = new Map<string, TunnelSessionEntry>();
  private readonly controls = new Map<string, SessionControl>();

  /** `extraFor` adds fields to every session (a cluster node names itself: `{node}`). */
  constructor(private readonly extraFor: () => Record<string, unknown> | undefined = () => undefined) {}

  /** Registers a live session; call the returned function when it ends. */
  add({ control, ...session }: NewSession): { entry: TunnelSessionEntry; remove: () => void } {
    const entry: TunnelSessionEntry = {
      region: 'global',
      metadata: '',
      ...session,
      ...((session.extra || this.extraFor()) && { extra: { ...this.extraFor(), ...session.extra } }),
      id: newId('ts'),
      started_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    this.entries.set(entry.id, entry);
    if (control) this.controls.set(entry.id, control);
    return {
      entry,
      remove: () => {
        this.entries.delete(entry.id);
        this.controls.delete(entry.id);
      },
    };
  }

  list(): TunnelSessionEntry[] {
    return [...this.entries.values()];
  }

  get(id: string): TunnelSessionEntry | undefined {
    return this.entries.get(id);
  }

  /** The session's stop/restart/update, when it is live on this edge (node). */
  control(id: string): SessionControl | undefined {
    return this.controls.get(id);
  }
}
