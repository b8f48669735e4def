// How many receives a datagram server keeps posted on its socket.
//
// Every receive in flight waits on the same socket, and when a datagram
// arrives Deno's runtime wakes all of them: one takes the datagram, each of
// the others makes a recvfrom() that finds the queue empty. Under load, many
// receives in flight let one turn of the event loop take a batch of
// datagrams, as libuv reads several per wakeup; with one client, each extra
// one is a wasted system call per datagram (16 in flight doubled the CPU per
// datagram of a one-client ping-pong). So the number follows the load.
//
// The completions that one turn of the event loop delivers form a batch (they
// all run before a microtask queued by the first of them). A batch that used
// every receive doubles the window: more datagrams may be waiting. Receives
// left waiting after a batch shrink it by their number: they were woken for
// nothing. A single receive cannot tell an idle socket from a full one, so at
// one the window probes for more every PROBE_INTERVAL batches.

/**
 * Batches in a row with one receive in flight before the window tries two: a
 * lightly loaded socket pays one wasted receive per this many datagrams, and
 * a loaded one reaches its full window after this many turns plus a doubling
 * per turn.
 */
export const PROBE_INTERVAL = 8;

/**
 * The number of receives a datagram server keeps in flight, between 1 and a
 * maximum, following the load. Call {@linkcode ReceiveWindow.posted} before
 * each receive and {@linkcode ReceiveWindow.completed} or
 * {@linkcode ReceiveWindow.failed} when it settles.
 */
export class ReceiveWindow {
  readonly #max: number;
  readonly #onGrow: () => void;
  #size = 1;
  #pending = 0;
  /** Completions in the batch being delivered; 0 between batches. */
  #completions = 0;
  #pendingAtBatchStart = 0;
  #batchesAtOne = 0;

  /**
   * @param max The most receives in flight: the server's handler limit.
   * @param onGrow Called when the window grows, to post more receives.
   */
  constructor(max: number, onGrow: () => void) {
    this.#max = max;
    this.#onGrow = onGrow;
  }

  /** How many receives should be in flight now. */
  get size(): number {
    return this.#size;
  }

  /** How many receives are in flight. */
  get pending(): number {
    return this.#pending;
  }

  /** Whether another receive should be posted. */
  get hasRoom(): boolean {
    return this.#pending < this.#size;
  }

  /** Counts a receive posted on the socket. */
  posted(): void {
    this.#pending++;
  }

  /** Counts a receive that returned a datagram. */
  completed(): void {
    if (this.#completions === 0) {
      this.#pendingAtBatchStart = this.#pending;
      queueMicrotask(this.#endBatch);
    }
    this.#completions++;
    this.#pending--;
  }

  /** Counts a receive that failed: it says nothing about the load. */
  failed(): void {
    this.#pending--;
  }

  #endBatch = (): void => {
    // Of the receives waiting when the batch began, those that got nothing.
    // A receive posted during the batch that found a datagram at once makes
    // this negative: a batch that used everything.
    const leftWaiting = this.#pendingAtBatchStart - this.#completions;
    this.#completions = 0;
    if (leftWaiting > 0) {
      this.#size = Math.max(1, this.#size - leftWaiting);
      this.#batchesAtOne = 0;
      return;
    }
    if (this.#size === 1 && ++this.#batchesAtOne < PROBE_INTERVAL) return;
    this.#batchesAtOne = 0;
    const size = Math.min(this.#max, this.#size * 2);
    if (size === this.#size) return;
    this.#size = size;
    this.#onGrow();
  };
}
