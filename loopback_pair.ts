/**
 * A connected pair of TCP conns over loopback, the portable socket pair that
 * needs no FFI: {@linkcode loopbackPair}. Re-exported by `@sockets/net/tcp`.
 *
 * @module
 */

import { abortable, deadline } from "./_async.ts";
import { annotate } from "./_errors.ts";
import {
  assertKnownOptions,
  assertOptions,
  assertSignal,
  assertTimeout,
} from "./_validate.ts";

/** The address both ends use: IPv4 loopback, as Python's `socketpair()` fallback. */
const LOOPBACK = "127.0.0.1";

/** The permission the pair needs, as a flag. */
const NET_FLAG = `--allow-net=${LOOPBACK}`;

/**
 * Options of {@linkcode loopbackPair}.
 *
 * @example A pair made within a deadline, or not at all
 * ```ts
 * import { loopbackPair } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = await loopbackPair({
 *   timeout: 5_000,
 *   signal: AbortSignal.timeout(10_000),
 * });
 * using _a = a;
 * using _b = b;
 * assertEquals(a.localAddr.port, b.remoteAddr.port);
 * ```
 */
export interface LoopbackPairOptions {
  /**
   * Aborting it stops the call, which rejects with the signal's reason and
   * leaves nothing open.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Milliseconds for the whole call; more than 0 (leave it out for no
   * limit).
   *
   * @default {undefined}
   */
  timeout?: number;
}

/** Whether `accepted` is the other end of `client`: each one's local address is the other's remote one. */
function isPeer(accepted: Deno.TcpConn, client: Deno.TcpConn): boolean {
  const same = (a: Deno.NetAddr, b: Deno.NetAddr) =>
    a.hostname === b.hostname && a.port === b.port;
  return same(accepted.remoteAddr, client.localAddr) &&
    same(accepted.localAddr, client.remoteAddr);
}

/**
 * Accepts from `listener` until the other end of `client` arrives, closing
 * every other connection (an intruder that raced to the port): the check
 * of Python's `socketpair()` fallback since the CVE-2024-3219 fix.
 *
 * @param listener The listener `client` connected to.
 * @param client The connecting end.
 * @param signal Stops the wait.
 * @returns The accepted end of `client`.
 */
export async function acceptPeer(
  listener: Deno.TcpListener,
  client: Deno.TcpConn,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  // Bounded without a count: the connect completed before this loop, so
  // the kernel's accept queue (first in, first out) holds it behind at most
  // a backlog's worth of intruders.
  while (true) {
    const accepted = await abortable(
      listener.accept(),
      signal,
      (late) => late.close(),
    );
    if (isPeer(accepted, client)) return accepted;
    accepted.close();
  }
}

/**
 * Two connected TCP conns over 127.0.0.1: what one end writes the other
 * reads, each can half-close, and both work with every io helper and as
 * a `serve()` handler's conn. It listens on a free port, connects, accepts,
 * and checks that the accepted conn is the one it connected (each end's
 * local address is the other's remote one), closing any other process's
 * connection that raced to the port, as Python's `socketpair()` fallback
 * does since the CVE-2024-3219 fix. The listener is closed before the call
 * returns. Needs `--allow-net=127.0.0.1`.
 *
 * Use it where a pair must work everywhere and without FFI: tests, a
 * Worker and its parent, an in-process producer and consumer. Prefer the
 * real `socketpair(2)` of `@sockets/net/fd` (Unix sockets, `--allow-ffi`)
 * where its ends are given to a child process (no port is open meanwhile,
 * and the kernel, not an address check, makes the pair), or where the peer's
 * credentials or descriptor passing are needed.
 *
 * @param options A timeout and an abort signal.
 * @returns The connecting end, then the accepted end.
 * @throws {Deno.errors.NotCapable} Without `--allow-net=127.0.0.1`.
 * @throws {Deno.errors.TimedOut} If `timeout` passes first.
 *
 * @example A pair, both ways
 * ```ts
 * import { loopbackPair } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = await loopbackPair({ timeout: 5_000 });
 * using _a = a;
 * using _b = b;
 * await a.write(new TextEncoder().encode("ping"));
 * await a.closeWrite();
 * assertEquals(await new Response(b.readable).text(), "ping");
 * ```
 */
export async function loopbackPair(
  options: LoopbackPairOptions = {},
): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  assertOptions(options);
  assertKnownOptions(options, ["signal", "timeout"]);
  const { signal, timeout } = options;
  assertTimeout(timeout, "options.timeout");
  assertSignal(signal, "options.signal");
  signal?.throwIfAborted();
  if (
    Deno.permissions.querySync({ name: "net", host: LOOPBACK }).state !==
      "granted"
  ) {
    throw new Deno.errors.NotCapable(
      `loopbackPair: permission denied to listen and connect on ${LOOPBACK}; run again with ${NET_FLAG}`,
    );
  }
  using limit = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `loopbackPair: no connected pair within ${timeout} ms; raise options.timeout`,
      ),
  );
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
  } catch (error) {
    throw annotate(error, {
      op: "listen",
      network: "tcp",
      address: `${LOOPBACK}:0`,
    });
  }
  let client: Deno.TcpConn | undefined;
  try {
    const { port } = listener.addr;
    try {
      client = await abortable(
        Deno.connect({ hostname: LOOPBACK, port }),
        limit.signal,
        (late) => late.close(),
      );
    } catch (error) {
      throw annotate(error, {
        op: "connect",
        network: "tcp",
        address: `${LOOPBACK}:${port}`,
        port,
      });
    }
    return [client, await acceptPeer(listener, client, limit.signal)];
  } catch (error) {
    client?.close();
    throw error;
  } finally {
    listener.close();
  }
}
