// Tunnel metrics in ngrok's shape. ngrok builds them with go-metrics: a Meter (count and
// exponentially-weighted moving averages over 1, 5 and 15 minutes, ticked every 5 s, in events per
// second) and a Timer (the meter plus duration percentiles, in nanoseconds). Same here, with the
// ticks applied lazily when an event arrives or a snapshot is read, so no timer runs.

import type { MeterTimerJson, TunnelMetricsJson } from './backend';

const TICK_MS = 5000;
const ALPHAS = [1, 5, 15].map((minutes) => 1 - Math.exp(-TICK_MS / 1000 / 60 / minutes));
/** Percentiles come from the most recent durations (go-metrics keeps a 1028-sample reservoir). */
const SAMPLE_SIZE = 1028;

export class Meter {
  count = 0;
  private uncounted = 0;
  private readonly rates = [0, 0, 0];
  private initialised = false;
  private lastTick: number;

  constructor(private readonly now: () => number = Date.now) {
    this.lastTick = now();
  }

  mark(n = 1): void {
    this.tickIfDue();
    this.count += n;
    this.uncounted += n;
  }

  /** Events per second over 1, 5 and 15 minutes. */
  rates15(): [number, number, number] {
    this.tickIfDue();
    return [this.rates[0], this.rates[1], this.rates[2]];
  }

  private tickIfDue(): void {
    const now = this.now();
    let due = Math.floor((now - this.lastTick) / TICK_MS);
    if (due <= 0) return;
    this.lastTick += due * TICK_MS;
    // After a long idle spell the averages have decayed to ~0; cap the catch-up work.
    if (due > 2000) {
      this.rates.fill(0);
      this.uncounted = 0;
      this.initialised = true;
      return;
    }
    while (due-- > 0) {
      const instant = this.uncounted / (TICK_MS / 1000);
      this.uncounted = 0;
      for (let i = 0; i < 3; i++) {
        this.rates[i] = this.initialised ? this.rates[i] + ALPHAS[i] * (instant - this.rates[i]) : instant;
      }
      this.initialised = true;
    }
  }
}

export class Timer {
  readonly meter: Meter;
  private readonly samples: number[] = [];
  private next = 0;

  constructor(now?: () => number) {
    this.meter = new Meter(now);
  }

  /** Records one event that took `durationMs`. */
  update(durationMs: number): void {
    this.meter.mark();
    const ns = Math.max(0, Math.round(durationMs * 1e6));
    if (this.samples.length < SAMPLE_SIZE) this.samples.push(ns);
    else {
      this.samples[this.next] = ns;
      this.next = (this.next + 1) % SAMPLE_SIZE;
    }
  }

  /** Percentile by nearest rank over the sample, as go-metrics does (p in 0..1). */
  percentiles(ps: number[]): number[] {
    if (this.samples.length === 0) return ps.map(() => 0);
    const sorted = [...this.samples].sort((a, b) => a - b);
    return ps.map((p) => {
      const pos = p * (sorted.length + 1);
      if (pos < 1) return sorted[0];
      if (pos >= sorted.length) return sorted[sorted.length - 1];
      const lower = sorted[Math.floor(pos) - 1];
      const upper = sorted[Math.floor(pos)];
      return lower + (pos - Math.floor(pos)) * (upper - lower);
    });
  }

  toJSON(): MeterTimerJson {
    const [rate1, rate5, rate15] = this.meter.rates15();
    const [p50, p90, p95, p99] = this.percentiles([0.5, 0.9, 0.95, 0.99]);
    return { count: this.meter.count, rate1, rate5, rate15, p50, p90, p95, p99 };
  }
}

/** One tunnel's metrics: the agent feeds connection and request events, the API reads JSON. */
export class TunnelMetrics {
  private readonly conns: Timer;
  private readonly http: Timer;
  private gauge = 0;

  constructor(now?: () => number) {
    this.conns = new Timer(now);
    this.http = new Timer(now);
  }

  connOpened(): void {
    this.gauge++;
  }

  connClosed(durationMs: number): void {
    this.gauge = Math.max(0, this.gauge - 1);
    this.conns.update(durationMs);
  }

  httpRequest(durationMs: number): void {
    this.http.update(durationMs);
  }

  /** `openConns` overrides the gauge when the agent tracks open connections itself. */
  toJSON(openConns?: number): TunnelMetricsJson {
    const { count, ...rest } = this.conns.toJSON();
    // Same key order as ngrok: count, gauge, rate1, …
    return { conns: { count, gauge: openConns ?? this.gauge, ...rest }, http: this.http.toJSON() };
  }
}
