// What the stream engine keeps for each connection it serves, and what its
// handler sees of it: the per-connection half of `server.ts`.

import { abortReason } from "./_async.ts";
import { tryClose } from "./_lifecycle.ts";
import { assertMilliseconds } from "./_validate.ts";

/**
 * What the engine tells a handler besides its connection.
 *
 * @example Stop a long task when the server ends the connection
 * ```ts
 * import type { ConnectionHandler } from "@sockets/net/server";
 *
 * const ticker: ConnectionHandler = async (conn, { signal }) => {
 *   const tick = new TextEncoder().encode("tick\n");
 *   while (!signal.aborted) {
 *     await conn.write(tick);
 *     await new Promise((resolve) => setTimeout(resolve, 1000));
 *   }
 * };
 * ```
 */
export interface ConnectionContext {
  /**
   * Aborts when the engine ends the connection: after `idleTimeout` without
   * progress, after `connectionTimeout`, or when the deadline of
   * `setDeadline` passes (reason: `Deno.errors.TimedOut`, naming which);
   * when a shutdown's `shutdownTimeout` passes (reason:
   * `Deno.errors.Interrupted`); or once the handler has settled. Pass it to
   * whatever the handler starts for the connection, so that it ends too.
   */
  readonly signal: AbortSignal;
  /**
   * Sets the handler's own deadline, `ms` milliseconds from now: when it
   * passes, the engine closes the connection and aborts `signal` with
   * `Deno.errors.TimedOut`. Each call replaces the previous deadline;
   * `Infinity` clears it. `connectionTimeout` still applies. The
   * server-wide timer of `idleTimeout` enforces it, so setting a deadline
   * per request costs no timer.
   *
   * A line protocol bounds each request this way: set a deadline before
   * reading a line and clear it once the line is in, so a client trickling
   * one byte at a time cannot hold the connection, however `idleTimeout` is
   * set.
   *
   * @param ms Milliseconds from now, 0 or more, or `Infinity` to clear.
   * @throws {TypeError} If `ms` is not a number.
   * @throws {RangeError} If `ms` is negative or NaN.
   *
   * @example Ten seconds per line, however slowly it arrives
   * ```ts
   * import { serve } from "@sockets/net/server";
   * import { lines } from "@sockets/net/io";
   *
   * await using server = serve(
   *   Deno.listen({ hostname: "127.0.0.1", port: 0 }),
   *   async (conn, context) => {
   *     context.setDeadline(10_000);
   *     for await (const line of lines(conn)) {
   *       await conn.write(new TextEncoder().encode(line.toUpperCase() + "\n"));
   *       context.setDeadline(10_000); // the next line gets 10 s of its own
   *     }
   *   },
   * );
   * ```
   */
  setDeadline(ms: number): void;
}

/** Size of the chunks of a progress-counting `readable`, as Deno's own conn streams. */
const STREAM_CHUNK_SIZE = 64 * 1024;

/**
 * Where every lingering connection discards its peer's input: nginx's
 * `NGX_HTTP_LINGERING_BUFFER_SIZE` (4 KiB). One buffer serves them all, as
 * what lands in it is never read.
 */
const LINGER_DISCARD = new Uint8Array(4096);

/**
 * What the engine knows of a connection it serves; its handler sees it as a
 * {@linkcode ConnectionContext}. The signal is made only when the handler
 * asks for it, so handlers that never do cost nothing more.
 */
export class ServedConnection implements ConnectionContext {
  /** The connection served. */
  readonly conn: Deno.Conn;
  /** Its neighbours in the server's {@linkcode ServedConnections}. */
  previous: ServedConnection | undefined;
  next: ServedConnection | undefined;
  /** The idle sweep's tick at the last read or write progress. */
  lastProgress: number;
  /** Set when the server closed the connection, so its handler's errors are expected. */
  closedByServer = false;
  /** Set while the server lingers after the handler settled. */
  lingering = false;
  /** When `connectionTimeout` ends the connection (`performance.now()` time); Infinity for never. */
  connectionDeadline = Infinity;
  /** When the handler's own deadline passes; Infinity for never. */
  requestDeadline = Infinity;
  /** The `ms` of the last `setDeadline`, for the reason. */
  requestDeadlineMs = Infinity;
  /** When lingering ends; Infinity for never. */
  lingerDeadline = Infinity;
  #controller: AbortController | undefined;
  #endReason: (() => unknown) | undefined;
  readonly #onDeadline: (at: number) => void;

  /**
   * @param conn The connection served.
   * @param tick The idle sweep's tick now.
   * @param onDeadline Told of each new deadline, to arm the server's timer.
   */
  constructor(
    conn: Deno.Conn,
    tick: number,
    onDeadline: (at: number) => void,
  ) {
    this.conn = conn;
    this.lastProgress = tick;
    this.#onDeadline = onDeadline;
  }

  /** The earliest of the connection's deadlines. */
  get deadline(): number {
    return Math.min(
      this.connectionDeadline,
      this.requestDeadline,
      this.lingerDeadline,
    );
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#endReason !== undefined) {
        this.#controller.abort(this.#endReason());
      }
    }
    return this.#controller.signal;
  }

  setDeadline(ms: number): void {
    if (ms === undefined) {
      throw new TypeError(
        "context.setDeadline(ms) needs milliseconds from now, got undefined; pass Infinity to clear the deadline",
      );
    }
    assertMilliseconds(
      ms,
      "context.setDeadline(ms)",
      "pass Infinity to clear the deadline",
    );
    // Once the handler has settled, its deadlines no longer apply.
    if (this.#endReason !== undefined) return;
    this.requestDeadlineMs = ms;
    this.requestDeadline = ms === Infinity ? Infinity : performance.now() + ms;
    if (this.requestDeadline !== Infinity) {
      this.#onDeadline(this.requestDeadline);
    }
  }

  /**
   * Half-closes the connection, then reads and discards the peer's input until the
   * peer closes it or the server does (`lingerTimeout` passing, idle,
   * shutdown).
   *
   * @returns Whether the caller should close the connection now.
   */
  async linger(lingerTimeout: number): Promise<boolean> {
    const conn = this.conn;
    // The half-close goes out at once; its result is awaited with the
    // drain, which saves a turn of the event loop per connection.
    const halfClosed = conn.closeWrite().then(() => true, (error) =>
      // Closed by its handler: nothing is left to linger on. Any other
      // failure (the handler half-closed already, the peer is gone) leaves
      // the read below to find out.
      !(error instanceof Deno.errors.BadResource));
    this.lingering = true;
    this.requestDeadline = Infinity;
    if (lingerTimeout !== Infinity) {
      this.lingerDeadline = performance.now() + lingerTimeout;
      this.#onDeadline(this.lingerDeadline);
    }
    try {
      while ((await conn.read(LINGER_DISCARD)) !== null) {
        if (this.closedByServer) return false;
      }
    } catch {
      // Reset by the peer, or closed by the server (lingerTimeout, idle,
      // shutdown): either way lingering is over.
    }
    return await halfClosed && !this.closedByServer;
  }

  /** Aborts the handler's signal, building the reason only if someone listens. */
  end(reason: () => unknown): void {
    if (this.#endReason !== undefined) return;
    this.#endReason = reason;
    this.#controller?.abort(reason());
  }
}

/**
 * The connections a server serves, linked through their
 * {@linkcode ServedConnection}s: adding or removing one allocates and hashes
 * nothing, where a `Map` keyed by the conn cost about 3 µs of CPU per
 * connection (bench/FINDINGS.md, "Where a connection's CPU goes").
 */
export class ServedConnections implements Iterable<ServedConnection> {
  #first: ServedConnection | undefined;
  #size = 0;

  /** How many connections are in the list. */
  get size(): number {
    return this.#size;
  }

  add(connection: ServedConnection): void {
    connection.next = this.#first;
    if (this.#first !== undefined) this.#first.previous = connection;
    this.#first = connection;
    this.#size++;
  }

  /** Removes `connection`; false if it is not in the list (a forced shutdown cleared it). */
  delete(connection: ServedConnection): boolean {
    const { previous, next } = connection;
    if (previous === undefined) {
      if (this.#first !== connection) return false;
      this.#first = next;
    } else {
      previous.next = next;
    }
    if (next !== undefined) next.previous = previous;
    connection.previous = connection.next = undefined;
    this.#size--;
    return true;
  }

  clear(): void {
    for (const connection of this) {
      connection.previous = connection.next = undefined;
    }
    this.#first = undefined;
    this.#size = 0;
  }

  /** Each connection once; removing the current one while iterating is safe. */
  *[Symbol.iterator](): Iterator<ServedConnection> {
    for (let connection = this.#first; connection !== undefined;) {
      const next = connection.next;
      yield connection;
      connection = next;
    }
  }
}

/** Why a connection's signal aborts once its handler has settled. */
export const settledReason = () => abortReason("the handler settled");

/**
 * Lazy `readable`/`writable` properties built on the instance's counting
 * `read` and `write`. They behave as Deno's own conn streams do: the
 * connection is closed at the end of `readable`, when either stream fails
 * or is cancelled, closed or aborted.
 */
export function progressStreams(conn: Deno.Conn): PropertyDescriptorMap {
  let readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  let writable: WritableStream<Uint8Array<ArrayBufferLike>> | undefined;
  return {
    readable: {
      configurable: true,
      get: () =>
        readable ??= new ReadableStream({
          type: "bytes",
          autoAllocateChunkSize: STREAM_CHUNK_SIZE,
          async pull(controller) {
            // A byte stream's BYOB request view is always a Uint8Array.
            const request = controller.byobRequest!;
            let n: number | null;
            try {
              n = await conn.read(request.view as Uint8Array<ArrayBuffer>);
            } catch (error) {
              tryClose(conn);
              throw error;
            }
            if (n === null) {
              tryClose(conn);
              controller.close();
              request.respond(0);
            } else {
              request.respond(n);
            }
          },
          cancel() {
            tryClose(conn);
          },
        }),
    },
    writable: {
      configurable: true,
      get: () =>
        writable ??= new WritableStream({
          async write(chunk) {
            try {
              for (let offset = 0; offset < chunk.length;) {
                offset += await conn.write(chunk.subarray(offset));
              }
            } catch (error) {
              tryClose(conn);
              throw error;
            }
          },
          close() {
            tryClose(conn);
          },
          abort() {
            tryClose(conn);
          },
        }),
    },
  };
}

/**
 * A connection handler: the server closes the connection when the handler
 * settles (returns, resolves, throws or rejects).
 *
 * @typeParam C The connection type of the listener.
 *
 * @example A handler that greets and hangs up
 * ```ts
 * import type { ConnectionHandler } from "@sockets/net/server";
 *
 * const greeting = new TextEncoder().encode("hello\n");
 * const greet: ConnectionHandler = (conn) => conn.write(greeting);
 * ```
 */
export type ConnectionHandler<C extends Deno.Conn = Deno.Conn> = (
  conn: C,
  context: ConnectionContext,
) => unknown;
