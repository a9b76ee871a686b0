// Circuit breaker with Hystrix semantics (`--circuit-breaker 0.5`, `circuit_breaker:`,
// EndpointCircuitBreaker, the circuit-breaker action). Outcomes are counted in a rolling window
// of `numBuckets` buckets; once the window holds at least `volumeThreshold` requests and the
// share of failures (5xx, including the edge's own 502/504) reaches `errorThreshold`, the breaker
// opens: requests get 503 with ERR_NGROK_3202 for `trippedMs`. Then one trial request goes
// through (half-open): success closes the breaker and clears the window, failure re-opens it.
import { sendEdgeError } from '../edge-errors';
import { check } from './config-error';
import { VAR } from './request-vars';
import type { HttpModule } from './types';

export interface CircuitBreakerConfig {
  /** Failure share 0..1 that trips the breaker. */
  errorThreshold: number;
  /** Requests in the window before it may trip (default 10). */
  volumeThreshold?: number;
  /** Rolling window length (default 10 s). */
  windowMs?: number;
  /** How long it stays open (default 10 s). */
  trippedMs?: number;
  /** Buckets in the window, 1..128 (default 10). */
  numBuckets?: number;
  /** false = count and report, never reject. */
  enforce?: boolean;
}

export function validateCircuitBreaker(c: CircuitBreakerConfig, field = 'circuitBreaker'): void {
  check(
    typeof c.errorThreshold === 'number' && c.errorThreshold >= 0 && c.errorThreshold <= 1,
    'ERR_NGROK_361',
    `${field}: the error threshold must be a number between 0.0 and 1.0`,
    ['errorThreshold'],
  );
  check(
    c.volumeThreshold === undefined ||
      (Number.isInteger(c.volumeThreshold) && c.volumeThreshold >= 1 && c.volumeThreshold <= 2_000_000_000),
    'ERR_NGROK_2215',
    `${field}.volumeThreshold must be an integer 1..2000000000`,
    ['volumeThreshold'],
  );
  check(
    c.windowMs === undefined || (c.windowMs > 0 && Number.isFinite(c.windowMs)),
    'ERR_NGROK_7017',
    `${field}: the rolling window must be longer than 0`,
    ['windowMs'],
  );
  check(
    c.trippedMs === undefined || (c.trippedMs > 0 && Number.isFinite(c.trippedMs)),
    'ERR_NGROK_7016',
    `${field}: the tripped duration must be longer than 0`,
    ['trippedMs'],
  );
  check(
    c.numBuckets === undefined || (Number.isInteger(c.numBuckets) && c.numBuckets >= 1 && c.numBuckets <= 128),
    'ERR_NGROK_7018',
    `${field}.numBuckets must be 1..128`,
    ['numBuckets'],
  );
}

type State = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private readonly bucketMs: number;
  private readonly ok: number[];
  private readonly fail: number[];
  private readonly stamp: number[];
  private state: State = 'closed';
  private openedAt = 0;
  private trialInFlight = false;

  constructor(
    private readonly config: CircuitBreakerConfig,
    private readonly now: () => number = Date.now,
  ) {
    validateCircuitBreaker(config);
    const n = config.numBuckets ?? 10;
    this.bucketMs = (config.windowMs ?? 10_000) / n;
    this.ok = new Array<number>(n).fill(0);
    this.fail = new Array<number>(n).fill(0);
    this.stamp = new Array<number>(n).fill(-1);
  }

  get currentState(): State {
    if (this.state === 'open' && this.now() - this.openedAt >= (this.config.trippedMs ?? 10_000))
      this.state = 'half-open';
    return this.state;
  }

  /** 'allow', 'allow_while_open' (the half-open trial) or 'block'. */
  admit(): 'allow' | 'allow_while_open' | 'block' {
    const state = this.currentState;
    if (state === 'closed') return 'allow';
    if (state === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return 'allow_while_open';
    }
    return 'block';
  }

  record(failed: boolean, trial: boolean): void {
    if (trial) {
      this.trialInFlight = false;
      if (failed) this.trip();
      else this.reset();
      return;
    }
    const slot = this.bucket();
    if (failed) this.fail[slot]++;
    else this.ok[slot]++;
    if (this.state !== 'closed') return;
    const { total, failures } = this.totals();
    if (total >= (this.config.volumeThreshold ?? 10) && failures / total >= this.config.errorThreshold) this.trip();
  }

  totals(): { total: number; failures: number } {
    const oldest = Math.floor(this.now() / this.bucketMs) - this.ok.length + 1;
    let total = 0;
    let failures = 0;
    for (let i = 0; i < this.ok.length; i++) {
      if (this.stamp[i] < oldest) continue;
      total += this.ok[i] + this.fail[i];
      failures += this.fail[i];
    }
    return { total, failures };
  }

  private bucket(): number {
    const index = Math.floor(this.now() / this.bucketMs);
    const slot = index % this.ok.length;
    if (this.stamp[slot] !== index) {
      this.stamp[slot] = index;
      this.ok[slot] = 0;
      this.fail[slot] = 0;
    }
    return slot;
  }

  private trip(): void {
    this.state = 'open';
    this.openedAt = this.now();
  }

  private reset(): void {
    this.state = 'closed';
    this.stamp.fill(-1);
  }
}

const TRIAL = 'circuit_breaker.trial';

export function circuitBreakerModule(config: CircuitBreakerConfig, now?: () => number): HttpModule {
  const breaker = new CircuitBreaker(config, now);
  return {
    name: 'circuit-breaker',
    onRequest(ctx) {
      const decision = config.enforce === false ? 'allow' : breaker.admit();
      ctx.vars.set(VAR.circuitBreakerDecision, decision);
      if (decision === 'allow_while_open') ctx.vars.set(TRIAL, true);
      if (decision !== 'block') return;
      sendEdgeError(ctx.req, ctx.res, 'ERR_NGROK_3202');
      return 'handled';
    },
    onComplete(ctx, result) {
      if (ctx.vars.get(VAR.circuitBreakerDecision) === 'block') return; // our own 503s are not upstream failures
      breaker.record(result.statusCode >= 500 || result.statusCode === 0, ctx.vars.get(TRIAL) === true);
    },
  };
}
