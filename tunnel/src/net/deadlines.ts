// Coarse deadlines for the data path: one interval per precision instead of a setTimeout per
// request. A timer set and cleared for every request (an upstream's response timeout, a visitor's
// keep-alive idle time) costs a Timeout object and timer-list (often priority-queue) work each
// time; here a request only writes a number, and one sweep per `tickMs` looks at every entry.
// An entry's `expire` runs once its deadline has passed, at most `tickMs` late (never early).

import { SlotSet } from './slot-set';

/** Something with a deadline: `deadline` in Date.now() ms (Infinity: none now). */
export interface Expiring {
  deadline: number;
  /** The deadline passed; the entry has been removed from the sweep. */
  expire(): void;
}

export class DeadlineSweep {
  /** Not a Set: one entry comes and goes per connection (slot-set.ts says why that matters). */
  private readonly entries = new SlotSet<Expiring>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly tickMs: number) {}

  /** Watches `entry` until it expires or is removed; its deadline may change meanwhile. */
  add(entry: Expiring): void {
    this.entries.add(entry);
    if (!this.timer) {
      this.timer = setInterval(this.sweep, this.tickMs);
      // Whatever the deadline guards (a socket) keeps the process alive; the sweep does not.
      this.timer.unref();
    }
  }

  delete(entry: Expiring): void {
    this.entries.delete(entry);
  }

  get size(): number {
    return this.entries.size;
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    this.entries.forEach((entry) => {
      if (entry.deadline > now) return;
      this.entries.delete(entry);
      entry.expire();
    });
    if (this.entries.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}

const sweeps = new Map<number, DeadlineSweep>();

/**
 * The process's sweep for deadlines `durationMs` long: ticks a quarter of that, between 50 ms and
 * 1 s (as Node's own head-deadline check, connectionsCheckingInterval), so a deadline fires within
 * a quarter of its length late at most, and a sweep looks at its entries at most 20 times a second.
 */
export function sweepFor(durationMs: number): DeadlineSweep {
  const tick = Math.max(50, Math.min(1_000, Math.floor(durationMs / 4)));
  let sweep = sweeps.get(tick);
  if (!sweep) sweeps.set(tick, (sweep = new DeadlineSweep(tick)));
  return sweep;
}

/** A one-off deadline `ms` from now on the shared sweep: `expire` runs unless `cancel` was called first. */
export function deadlineIn(ms: number, expire: () => void): { cancel(): void } {
  const sweep = sweepFor(ms);
  const entry: Expiring = { deadline: Date.now() + ms, expire };
  sweep.add(entry);
  return { cancel: () => sweep.delete(entry) };
}
