// The read-buffer policy of the stream helpers and the server engine: small
// while a connection idles, large while it moves bulk data.
//
// A fixed buffer is wrong either way: 64 KiB per connection costs 64 KB of
// memory for every idle connection, and 4 KiB cuts bulk throughput to about
// 0.16× (measured; see DESIGN.md, "Performance shape"). So the buffer starts
// small, doubles after every read that fills it (the kernel had at least as
// much as was asked for, so more is likely waiting), and shrinks after a run
// of reads that would have fit in half of it.

/**
 * The size a buffer starts at and shrinks back to, and so what an idle
 * connection's waiting read holds: twice a 64-byte ping, so that small
 * request-reply traffic never grows it. Chosen by measuring idle connections
 * part by part (bench/FINDINGS.md, "Memory per idle connection"): at 1 KiB
 * the buffer was most of what the module owns per idle connection; a larger
 * message costs a few more reads while the buffer doubles.
 */
export const MIN_BUFFER_SIZE = 128;

/**
 * The largest size a buffer grows to: the size DESIGN.md's measurements
 * settled on (bulk transfers gain little beyond it), and the MTU of Linux's
 * loopback interface.
 */
export const MAX_BUFFER_SIZE = 64 * 1024;

/**
 * How many reads in a row must fit in half of the buffer before it shrinks:
 * enough that one short read at the end of a burst does not undo the growth,
 * few enough that an interactive connection gives the memory back soon.
 */
export const SHRINK_AFTER_SMALL_READS = 4;

/**
 * A reusable read buffer whose size follows the traffic. Read into
 * {@linkcode AdaptiveBuffer.buffer}, then report the result with
 * {@linkcode AdaptiveBuffer.record}; the same `Uint8Array` comes back until
 * the size changes, so a steady stream allocates nothing per read.
 */
export class AdaptiveBuffer {
  #buffer: Uint8Array<ArrayBuffer>;
  #min: number;
  #max: number;
  /** Reads in a row that would have fit in half of the buffer. */
  #smallReads = 0;
  /** The largest of those reads: the size to shrink to must still hold it. */
  #largestSmallRead = 0;

  /**
   * @param min The size to start at and shrink back to.
   * @param max The size to grow to; equal to `min` for a fixed buffer.
   */
  constructor(min: number = MIN_BUFFER_SIZE, max: number = MAX_BUFFER_SIZE) {
    if (!(Number.isInteger(min) && min >= 1 && Number.isInteger(max))) {
      throw new RangeError(
        `Invalid buffer sizes ${min} and ${max}: both must be positive integers`,
      );
    }
    if (max < min) {
      throw new RangeError(
        `Invalid buffer sizes: the largest (${max}) is below the smallest (${min})`,
      );
    }
    this.#min = min;
    this.#max = max;
    this.#buffer = new Uint8Array(min);
  }

  /** The buffer to read into next. */
  get buffer(): Uint8Array<ArrayBuffer> {
    return this.#buffer;
  }

  /** The current size of the buffer, in bytes. */
  get size(): number {
    return this.#buffer.length;
  }

  /**
   * Reports a read of `n` bytes into {@linkcode AdaptiveBuffer.buffer} and
   * sizes the buffer for the next read. Take the bytes out of the old buffer
   * first (or keep a reference to it): a resize replaces it.
   *
   * @param n The bytes the read returned.
   * @param offered How many bytes the read was offered, when it read into
   * part of the buffer only.
   */
  record(n: number, offered: number = this.#buffer.length): void {
    const size = this.#buffer.length;
    if (n >= offered && offered > 0) {
      this.#smallReads = 0;
      this.#largestSmallRead = 0;
      if (size < this.#max) {
        this.#buffer = new Uint8Array(Math.min(size * 2, this.#max));
      }
      return;
    }
    if (n * 2 > size) {
      this.#smallReads = 0;
      this.#largestSmallRead = 0;
      return;
    }
    this.#smallReads++;
    this.#largestSmallRead = Math.max(this.#largestSmallRead, n);
    if (this.#smallReads < SHRINK_AFTER_SMALL_READS) return;
    // Shrink to the smallest size on the growth path that still holds the
    // largest recent read, so that a steady medium stream settles instead of
    // shrinking and growing in turn.
    let target = this.#min;
    while (target < this.#largestSmallRead) target *= 2;
    this.#smallReads = 0;
    this.#largestSmallRead = 0;
    if (target < size) this.#buffer = new Uint8Array(target);
  }
}
