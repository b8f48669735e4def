/**
 * One poller for every descriptor whose reads and writes this module owns.
 *
 * A nonblocking FFI call runs on Deno's blocking pool, whose 32 threads are
 * shared with file operations: one call parked per socket would stall the
 * process at 32 sockets. So there is at most one `poll(2)` in flight, over
 * every watched descriptor plus the read end of a wake-up socket pair, which
 * a new or cancelled wait writes to so that the call returns and is made
 * again with the new set. The loop stops, and closes its wake-up pair, when
 * nothing is watched.
 *
 * @module
 */

import {
  type Libc,
  libc,
  POLLIN,
  SOCK_NONBLOCK,
  socketPairFds,
} from "./_libc.ts";

/** `sizeof(struct pollfd)`: `int fd; short events; short revents`. */
const POLLFD_SIZE = 8;
/**
 * Failed `poll` calls in a row before the waiters are failed: a signal can
 * interrupt one (`EINTR`, never restarted), a persistent error repeats.
 */
const POLL_ATTEMPTS = 3;

interface Waiter {
  fd: number;
  events: number;
  resolve(revents: number): void;
  reject(error: unknown): void;
}

const waiters = new Set<Waiter>();
let wake: [number, number] | undefined;
let loop: Promise<void> | undefined;
const ONE = new Uint8Array(1);

function nudge(c: Libc): void {
  if (wake !== undefined) c.write(wake[1], ONE, 1n);
}

async function run(c: Libc, pair: [number, number]): Promise<void> {
  wake = pair;
  const drain = new Uint8Array(64);
  let failures = 0;
  try {
    while (waiters.size > 0) {
      const watched = [...waiters];
      const fds = new Uint8Array(POLLFD_SIZE * (watched.length + 1));
      const view = new DataView(fds.buffer);
      view.setInt32(0, wake[0], true);
      view.setInt16(4, POLLIN, true);
      watched.forEach((waiter, index) => {
        view.setInt32(POLLFD_SIZE * (index + 1), waiter.fd, true);
        view.setInt16(POLLFD_SIZE * (index + 1) + 4, waiter.events, true);
      });
      const ready = await c.poll(fds, BigInt(watched.length + 1), -1);
      if (ready < 0) {
        // errno belongs to the pool's thread and cannot be read here.
        if (++failures < POLL_ATTEMPTS) continue;
        const error = new Error(`poll: failed ${POLL_ATTEMPTS} times in a row`);
        for (const waiter of waiters) waiter.reject(error);
        waiters.clear();
        break;
      }
      failures = 0;
      if (view.getInt16(6, true) !== 0) {
        while (c.read(wake[0], drain, BigInt(drain.length)) > 0) {
          // Drained: the nudges only ask for a new call.
        }
      }
      watched.forEach((waiter, index) => {
        const revents = view.getInt16(POLLFD_SIZE * (index + 1) + 6, true);
        if (revents !== 0 && waiters.delete(waiter)) waiter.resolve(revents);
      });
    }
  } finally {
    c.close(wake[0]);
    c.close(wake[1]);
    wake = undefined;
    loop = undefined;
  }
}

/**
 * Waits until `fd` is ready for `events` (`POLLIN`, `POLLOUT`), or fails;
 * resolves with the events that happened.
 *
 * @param fd A descriptor this module owns.
 * @param events What to wait for.
 * @param signal Ends the wait with its reason.
 */
export function ready(
  fd: number,
  events: number,
  signal?: AbortSignal,
): Promise<number> {
  const c = libc("poll");
  signal?.throwIfAborted();
  // Made here, not in the loop, so that a failure (EMFILE) fails this wait
  // instead of leaving it unsettled and the loop's promise rejected.
  const pair = loop === undefined ? socketPairFds(c, SOCK_NONBLOCK) : undefined;
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  const waiter: Waiter = {
    fd,
    events,
    resolve: (revents) => {
      signal?.removeEventListener("abort", onAbort);
      resolve(revents);
    },
    reject: (error) => {
      signal?.removeEventListener("abort", onAbort);
      reject(error);
    },
  };
  const onAbort = () => {
    if (waiters.delete(waiter)) {
      nudge(c);
      waiter.reject(signal!.reason);
    }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  waiters.add(waiter);
  if (pair !== undefined) loop = run(c, pair);
  else nudge(c);
  return promise;
}

/**
 * Ends every wait on `fd` with `error`, before the descriptor is closed:
 * `poll` is not woken by a close.
 */
export function forget(fd: number, error: unknown): void {
  let found = false;
  for (const waiter of waiters) {
    if (waiter.fd !== fd) continue;
    waiters.delete(waiter);
    waiter.reject(error);
    found = true;
  }
  if (found) nudge(libc("poll"));
}

/** Settles when the poll loop has stopped (nothing watched), at once if it runs not. */
export function idle(): Promise<void> {
  return loop ?? Promise.resolve();
}

/** How many waits are pending, for tests. */
export function watchedCount(): number {
  return waiters.size;
}
