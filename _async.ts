// Deadline and abort combinators, in the manner of std's `abortable` and
// `deadline`: every public function that takes `timeout` and `signal` builds
// its one cancellation signal here, so that both mean the same everywhere.

/**
 * The longest delay `setTimeout` honours: the HTML timers spec keeps delays in
 * a signed 32-bit count of milliseconds, and longer ones fire at once.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal`
 * aborts. The promise itself goes on; `onLate` receives its value if it
 * fulfils after the abort, so that a late resource can be closed.
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onLate?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return promise;
  const settled = Promise.withResolvers<T>();
  const onAbort = () => settled.reject(signal.reason);
  if (signal.aborted) {
    onAbort();
  } else {
    signal.addEventListener("abort", onAbort, { once: true });
  }
  promise.then((value) => {
    signal.removeEventListener("abort", onAbort);
    if (signal.aborted) onLate?.(value);
    else settled.resolve(value);
  }, (error) => {
    signal.removeEventListener("abort", onAbort);
    settled.reject(error);
  });
  return settled.promise;
}

/**
 * One signal for a whole call: it aborts with the caller's reason when
 * `signal` aborts, or with `timedOut()` once `timeout` milliseconds pass.
 * Dispose of it when the call ends, so that its timer does not outlive it.
 */
export interface Deadline extends Disposable {
  /** Aborts when the caller's signal does or the time is up. */
  readonly signal: AbortSignal;
}

/**
 * Starts the deadline of a call that takes `timeout` and `signal`.
 *
 * @param timeout Milliseconds for the whole call; `undefined` or `Infinity` for none.
 * @param signal The caller's signal, if any.
 * @param timedOut Builds the reason when the time is up; it says what timed out and the fix.
 */
export function deadline(
  timeout: number | undefined,
  signal: AbortSignal | undefined,
  timedOut: () => Error,
): Deadline {
  const expiry = new AbortController();
  const timer = timeout === undefined || timeout === Infinity
    ? undefined
    : setTimeout(() => expiry.abort(timedOut()), timeout);
  return {
    signal: signal === undefined
      ? expiry.signal
      : AbortSignal.any([signal, expiry.signal]),
    [Symbol.dispose]: () => clearTimeout(timer),
  };
}

/**
 * Resolves after `ms` milliseconds, or at once when `signal` aborts (it never
 * rejects: the caller checks the signal).
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Whether `value` is a thenable: awaiting a plain value costs a microtask turn. */
export function isPromiseLike<T>(
  value: T | PromiseLike<T>,
): value is PromiseLike<T> {
  return typeof (value as { then?: unknown })?.then === "function";
}

/** An `AbortError`, as `AbortController.abort()` gives, with a message that says why. */
export function abortReason(message: string): DOMException {
  return new DOMException(message, "AbortError");
}

/**
 * Yields what `next()` gives until it fails because its resource was closed
 * (`BadResource`, `Interrupted`): the end of an accept or receive loop.
 */
export async function* untilClosed<T>(
  next: () => Promise<T>,
): AsyncIterableIterator<T> {
  while (true) {
    try {
      yield await next();
    } catch (error) {
      if (
        error instanceof Deno.errors.BadResource ||
        error instanceof Deno.errors.Interrupted
      ) return;
      throw error;
    }
  }
}
