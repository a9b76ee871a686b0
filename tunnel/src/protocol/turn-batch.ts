/**
 * When a session sends what it queued: at once when the traffic is a lone exchange, at the end of
 * the event-loop turn when it is concurrent.
 *
 * A "group" is what one I/O callback queues (up to its microtask checkpoint); a "turn" lasts until
 * the setImmediate the turn's first group scheduled. The first group of a quiet turn runs in a
 * microtask, so a request or response at c=1 leaves within the callback that made it instead of
 * waiting for the check phase (c=1 +15–25 % req/s, docs/benchmarks.md "Issue 11 round 8"). A
 * second group in the same turn means concurrent traffic: it and every later group wait for the
 * turn's end and go together, and so does the whole next turn, until a turn holds one group again.
 * (Flushing every group at once sent one message per I/O callback: ~30 % more CPU per request at
 * c=50.) `run` is called in order and only from here, so what it sends keeps its order.
 */
export class TurnBatch {
  /** A group is open: its microtask is queued. */
  private inGroup = false;
  /** The turn's setImmediate is queued. */
  private inTurn = false;
  /** Groups in this turn so far. */
  private groups = 0;
  /** The last turn had more than one group: batch every group of this one. */
  private busy = false;

  constructor(private readonly run: () => void) {}

  /** Something was queued: run it now-ish or at the turn's end. */
  note(): void {
    if (this.inGroup) return;
    this.inGroup = true;
    this.groups++;
    queueMicrotask(this.endGroup);
    if (!this.inTurn) {
      this.inTurn = true;
      setImmediate(this.endTurn);
    }
  }

  private readonly endGroup = (): void => {
    this.inGroup = false;
    if (this.groups === 1 && !this.busy) this.run();
  };

  private readonly endTurn = (): void => {
    this.inTurn = false;
    this.busy = this.groups > 1;
    this.groups = 0;
    this.run();
  };
}
