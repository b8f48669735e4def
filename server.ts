/**
 * The server engines: {@linkcode serve}, the one stream-server engine behind
 * TCP, Unix and TLS listeners, and {@linkcode serveDatagrams}, the one
 * datagram engine behind UDP and Unix datagram servers. Both share one
 * lifecycle: the options of {@linkcode ServerOptions} mean the same on each.
 *
 * {@linkcode serve} accepts connections from any `Deno.Listener` and runs a
 * handler for each. The classic server styles are options of this one engine,
 * not separate code paths:
 *
 * - **concurrent** (the default): a task per connection, the event-loop form
 *   of the fork-per-connection server;
 * - **iterative**: `maxConnections: 1` serves one client at a time while the
 *   others wait in the kernel's listen backlog;
 * - **bounded**: any `maxConnections` pauses accepting at the limit, so excess
 *   clients wait in the backlog instead of being accepted and dropped.
 *
 * The server owns the listener and every connection it accepts: when a
 * handler settles it half-closes the connection and lingers, reading and
 * discarding the peer's input for up to `lingerTimeout` so that the reply is
 * not cut off by a reset, then closes it; it closes connections that stay
 * idle longer than `idleTimeout`, that outlive `connectionTimeout`, or whose
 * handler's own deadline (`context.setDeadline`) passes; and at shutdown it
 * stops accepting, lets running handlers finish for up to `shutdownTimeout`,
 * then closes what remains.
 *
 * @example Serve an echo handler on a free port
 * ```ts
 * import { serve } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using server = serve(listener, async (conn) => {
 *   const buffer = new Uint8Array(64);
 *   const n = await conn.read(buffer);
 *   if (n !== null) await conn.write(buffer.subarray(0, n));
 * });
 *
 * using client = await Deno.connect({ port: server.addr.port });
 * await client.write(new TextEncoder().encode("ping"));
 * const reply = new Uint8Array(4);
 * await client.read(reply);
 * assertEquals(new TextDecoder().decode(reply), "ping");
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import {
  type ConnectionHandler,
  progressStreams,
  ServedConnection,
  ServedConnections,
  settledReason,
} from "./_served_connection.ts";

import {
  assertServerOptions,
  assertStreamLimits,
  isAbandonedConnection,
  Lifecycle,
  SERVE_OPTION_NAMES,
  type ServerCounters,
  type ServerOptions,
  tryClose,
} from "./_lifecycle.ts";
import { sawInputEnd } from "./_input_end.ts";
import { admitProxied, type ProxyGate, proxyGate } from "./_proxy_serve.ts";
import {
  type AccessRules,
  admits,
  assertRulesApply,
  type RuleGate,
  ruleGate,
} from "./_rules.ts";
import type { ProxyOptions } from "./proxy.ts";
import { assertFunction, assertKnownOptions, show } from "./_validate.ts";

export type { ServerOptions } from "./_lifecycle.ts";
export type {
  ConnectionContext,
  ConnectionHandler,
} from "./_served_connection.ts";
export type { ServerCounters } from "./_lifecycle.ts";
export type { ProxyOptions } from "./proxy.ts";
export type { AccessRules } from "./_rules.ts";
export { readAccessRules } from "./access_rules.ts";
export * from "./datagram_server.ts";

/**
 * Options of {@linkcode serve}, shared by every stream server of the module:
 * the lifecycle options of every server, plus the limits of a stream server.
 *
 * @example A bounded server that closes idle connections
 * ```ts
 * import { serve, type ServeOptions } from "@sockets/net/server";
 *
 * const options: ServeOptions = {
 *   maxConnections: 100,
 *   idleTimeout: 30_000,
 *   onError: (error) => console.error("echo:", error),
 * };
 * await using server = serve(
 *   Deno.listen({ hostname: "127.0.0.1", port: 0 }),
 *   (conn) => conn.readable.pipeTo(conn.writable),
 *   options,
 * );
 * ```
 */
export interface ServeOptions
  extends ServerOptions<Deno.Addr, Deno.Conn>, AccessRules {
  /**
   * The most connections served at once. At the limit, accepting pauses: new
   * clients wait in the kernel's listen backlog until a connection ends.
   * `1` makes an iterative server; `Infinity` sets no limit.
   *
   * @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Milliseconds a connection may go without read or write progress before
   * the server closes it and aborts its handler's `context.signal`. One
   * server-wide timer enforces it, so a connection is closed between
   * `idleTimeout` and 1.25 × `idleTimeout` after its last progress. Progress
   * is a completed `read` or `write`, including those of the connection's
   * `readable` and `writable` streams. `Infinity` sets no limit.
   *
   * Any byte is progress, so a client that sends one byte just before each
   * timeout is never idle: bound such clients with `connectionTimeout`, or
   * per request with `context.setDeadline`.
   *
   * @default {undefined} (no limit)
   */
  idleTimeout?: number;
  /**
   * Milliseconds from accept after which the server ends a connection,
   * whatever progress it makes, and aborts its handler's `context.signal`
   * with `Deno.errors.TimedOut`. This bounds how long a slow or trickling
   * client can hold a connection slot. The same server-wide timer as
   * `idleTimeout` enforces it: no timer per connection. `Infinity` sets no
   * limit.
   *
   * @default {undefined} (no limit)
   */
  connectionTimeout?: number;
  /**
   * Milliseconds the server lingers after a handler settles: it half-closes
   * the connection (`closeWrite()`), then reads and discards the peer's input
   * until the peer closes or this time passes, and only then closes it.
   * Closing with unread input makes the kernel reset the connection and
   * drop the reply still in flight; lingering lets the reply arrive whole,
   * as nginx's `lingering_close` and Go's HTTP server do. The connection
   * keeps its slot of `maxConnections` while it lingers (as in nginx), and
   * `idleTimeout` and `connectionTimeout` still apply. `0` closes at once;
   * `Infinity` lingers until the peer closes, bounded only by those two.
   * At shutdown, and when the server itself ends a connection (idle,
   * deadline), it closes at once. Lingering costs a `shutdown()` and one
   * more read per connection; `0` suits protocols in which the client never
   * sends what the handler leaves unread. A connection whose input the io
   * helpers (`copy`, `lines`, `frames`, `readExactly`) read to its end closes
   * at once: nothing unread is left to reset it.
   *
   * @default {5000}
   */
  lingerTimeout?: number;
  /**
   * Read a PROXY header from `proxy.trusted` proxies only, and give `conn`
   * the client's addresses it names (`ProxyOptions`, `@sockets/net/proxy`).
   *
   * @default {undefined} (no header is read)
   */
  proxy?: ProxyOptions;
}

/** The idle sweep runs this many times per `idleTimeout`: the bound on how late an idle connection is closed. */
const IDLE_SWEEPS_PER_TIMEOUT = 4;

/** How long a connection lingers after its handler settles by default: nginx's `lingering_timeout` (5 s). */
const DEFAULT_LINGER_TIMEOUT_MS = 5_000;

/**
 * A running stream server: returned by {@linkcode serve} and the transport
 * functions built on it (`serveTcp`, `serveUnix`).
 *
 * `finished` resolves only once the listener is closed and every connection
 * is closed, so a wrapper can release what it owns (a Unix socket file, say)
 * with `server.finished.then(...)`.
 *
 * @typeParam A The listening address type.
 *
 * @example Count connections, then shut down
 * ```ts
 * import { serve } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const { promise: accepted, resolve } = Promise.withResolvers<void>();
 * const server = serve(
 *   Deno.listen({ hostname: "127.0.0.1", port: 0 }),
 *   async (conn) => {
 *     resolve();
 *     await conn.read(new Uint8Array(1));
 *   },
 * );
 * const client = await Deno.connect({ port: server.addr.port });
 * await accepted;
 * assertEquals(server.connections, 1);
 * client.close();
 * await server.shutdown();
 * assertEquals(server.connections, 0);
 * ```
 */
export class Server<A extends Deno.Addr = Deno.Addr>
  implements AsyncDisposable {
  readonly #listener: Deno.Listener<Deno.Conn, A>;
  readonly #handler: ConnectionHandler<Deno.Conn>;
  readonly #maxConnections: number;
  readonly #idleTimeout: number | undefined;
  readonly #connectionTimeout: number | undefined;
  readonly #lingerTimeout: number;
  readonly #proxy: ProxyGate | undefined;
  readonly #rules: RuleGate | undefined;
  readonly #lifecycle: Lifecycle<Deno.Addr, Deno.Conn>;
  readonly #connections = new ServedConnections();
  readonly #finished = Promise.withResolvers<void>();
  /** Resolves once accepting has stopped and no connection is left. */
  readonly #drained = Promise.withResolvers<void>();
  #stopping = false;
  #listenerClosed = false;
  /** Ends the accept loop's wait for a free connection slot. */
  #slotFreed: (() => void) | undefined;
  #tick = 0;
  #accepted = 0;
  #refusedByRules = 0;
  #limitReached = 0;
  #timedOut = 0;
  #handlerErrors = 0;
  /** The one server-wide timer: the next idle sweep or the earliest deadline, whichever comes first. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When `#timer` fires (a `performance.now()` time); Infinity when it is not set. */
  #timerAt = Infinity;
  /** When the next idle sweep is due; Infinity while no connection needs one. */
  #nextSweep = Infinity;

  /**
   * Starts serving; use {@linkcode serve}, which validates its arguments,
   * rather than this constructor.
   *
   * @param listener The listener to accept from; the server owns it from now on.
   * @param handler Runs for each connection.
   * @param options Server options.
   */
  constructor(
    listener: Deno.Listener<Deno.Conn, A>,
    handler: ConnectionHandler<Deno.Conn>,
    options: ServeOptions,
  ) {
    this.#listener = listener;
    this.#handler = handler;
    this.#maxConnections = options.maxConnections ?? Infinity;
    this.#idleTimeout = options.idleTimeout === Infinity
      ? undefined
      : options.idleTimeout;
    this.#connectionTimeout = options.connectionTimeout === Infinity
      ? undefined
      : options.connectionTimeout;
    this.#lingerTimeout = options.lingerTimeout ?? DEFAULT_LINGER_TIMEOUT_MS;
    this.#proxy = proxyGate(options.proxy);
    this.#rules = ruleGate(options);
    this.#lifecycle = new Lifecycle(options);
    try {
      this.#lifecycle.listen(listener.addr, () => this.shutdown());
    } catch (error) {
      this.#closeListener();
      throw error;
    }
    this.#run();
  }

  /** The address the server listens on; for port 0, `addr.port` is the port the system chose. */
  get addr(): A {
    return this.#listener.addr;
  }

  /** How many connections are being served now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** What the server has done so far: a fresh object of plain counts at each read. */
  get counters(): ServerCounters {
    return {
      accepted: this.#accepted,
      active: this.#connections.size,
      refusedByRules: this.#refusedByRules,
      limitReached: this.#limitReached,
      timedOut: this.#timedOut,
      handlerErrors: this.#handlerErrors,
    };
  }

  /**
   * Resolves when the server has stopped: the listener is closed, and so is
   * every connection. After a graceful drain every handler has settled too;
   * after `shutdownTimeout` forced the connections closed, handlers still
   * running are no longer waited for, so one that never settles cannot keep
   * the server from stopping (their errors are not reported).
   */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Stops accepting, waits up to `shutdownTimeout` for running handlers,
   * then closes the connections that remain. Calling it again returns the
   * same promise.
   *
   * @returns A promise that resolves when the server has fully stopped.
   */
  shutdown(): Promise<void> {
    return this.#lifecycle.shutdown(this.#stop);
  }

  /**
   * Shuts the server down, for `await using`.
   *
   * @returns A promise that resolves when the server has fully stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #closeListener(): void {
    if (this.#listenerClosed) return;
    this.#listenerClosed = true;
    const error = tryClose(this.#listener);
    if (error !== undefined) this.#lifecycle.report(error);
  }

  #closeConn(conn: Deno.Conn): void {
    const error = tryClose(conn);
    if (error !== undefined) this.#lifecycle.report(error, conn);
  }

  /** Stops accepting; also where the accept loop ends when the listener dies. */
  #stopAccepting(): void {
    this.#stopping = true;
    this.#lifecycle.beginStop();
    this.#closeListener();
    this.#slotFreed?.();
    // Lingering is for the peer's sake only: a stop does not wait for it.
    for (const connection of this.#connections) {
      if (connection.lingering) this.#endByServer(connection);
    }
  }

  /** Closes a connection that the server ends, so that its handler's errors are expected. */
  #endByServer(connection: ServedConnection): void {
    if (connection.closedByServer) return;
    connection.closedByServer = true;
    this.#closeConn(connection.conn);
  }

  #stop = async (): Promise<void> => {
    this.#stopAccepting();
    await this.#lifecycle.drain(this.#drained.promise, this.#forceClose);
    await this.#finished.promise;
  };

  #forceClose = (): void => {
    const reason = () =>
      new Deno.errors.Interrupted(
        "the server shut down and its shutdownTimeout passed",
      );
    for (const connection of this.#connections) {
      connection.closedByServer = true;
      this.#closeConn(connection.conn);
      connection.end(reason);
    }
    // The connections are closed: a handler that ignores that and never
    // settles must not keep the server from finishing.
    this.#connections.clear();
    this.#drained.resolve();
  };

  /** Accepts until stopped, then waits for the last connection; never rejects. */
  async #run(): Promise<void> {
    await this.#acceptLoop();
    this.#stopAccepting();
    if (this.#connections.size === 0) this.#drained.resolve();
    await this.#drained.promise;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#finished.resolve();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopping) {
      if (this.#connections.size >= this.#maxConnections) {
        // Pause, not accept-then-close: waiting clients stay in the backlog.
        this.#limitReached++;
        await new Promise<void>((resolve) => this.#slotFreed = resolve);
        this.#slotFreed = undefined;
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        // BadResource: the listener was closed, by shutdown or behind the
        // server's back; either way nothing is left to accept.
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // One client gave up in the backlog; the next one is waiting.
        if (isAbandonedConnection(error)) continue;
        // Running out of descriptors or memory, or an error of unknown kind:
        // retrying at once would be a busy loop.
        this.#lifecycle.report(error);
        // Only the backoff or a shutdown end the pause; a connection ending
        // does not, or a burst of closes would turn backoff into a busy loop.
        await this.#lifecycle.pauseAfterError();
        continue;
      }
      this.#lifecycle.succeeded();
      this.#accepted++;
      if (this.#stopping) {
        // Accepted while shutdown closed the listener.
        this.#closeConn(conn);
        return;
      }
      // Behind a proxy the rules wait for its header, which names the client.
      if (
        this.#rules !== undefined && this.#proxy === undefined &&
        !admits(this.#rules, conn.remoteAddr)
      ) {
        this.#refusedByRules++;
        this.#closeConn(conn);
        continue;
      }
      this.#serveConnection(conn);
    }
  }

  /** Serves `conn`: admits it, runs the handler, then lingers and closes it; never throws. */
  #serveConnection(conn: Deno.Conn): void {
    const connection = new ServedConnection(conn, this.#tick, this.#arm);
    this.#connections.add(connection);
    if (this.#connectionTimeout !== undefined) {
      connection.connectionDeadline = performance.now() +
        this.#connectionTimeout;
      this.#arm(connection.connectionDeadline);
    }
    try {
      if (this.#idleTimeout !== undefined) {
        this.#trackProgress(connection);
      }
    } catch (error) {
      this.#handlerFailed(connection, error);
      this.#settle(connection);
      return;
    }
    if (this.#proxy === undefined) {
      this.#runHandler(connection);
    } else {
      this.#admitThenRun(connection, this.#proxy);
    }
  }

  /** Reads the PROXY header, applies the rules to the client it names, then runs the handler. */
  async #admitThenRun(
    connection: ServedConnection,
    proxy: ProxyGate,
  ): Promise<void> {
    const conn = connection.conn;
    let admitted = await admitProxied(conn, proxy, connection, this.#lifecycle);
    if (
      admitted && this.#rules !== undefined &&
      !admits(this.#rules, conn.remoteAddr)
    ) {
      this.#refusedByRules++;
      admitted = false;
    }
    if (admitted) {
      this.#runHandler(connection);
    } else {
      this.#endByServer(connection);
      this.#settle(connection);
    }
  }

  /**
   * Runs the handler and settles the connection once the handler settles.
   * A promise reaction rather than an `async` function: while the handler
   * waits, the connection holds two closures instead of a suspended frame,
   * 0.2 KB less per idle connection (bench/FINDINGS.md, "Memory per idle
   * connection, the engine's part").
   */
  #runHandler(connection: ServedConnection): void {
    let settled: Promise<unknown>;
    try {
      settled = Promise.resolve(this.#handler(connection.conn, connection));
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.then(
      () => this.#settle(connection),
      (error) => {
        this.#handlerFailed(connection, error);
        this.#settle(connection);
      },
    );
  }

  /** Reports a handler's error, unless the server ended its connection and so expected it. */
  #handlerFailed(connection: ServedConnection, error: unknown): void {
    if (connection.closedByServer) return;
    this.#handlerErrors++;
    this.#lifecycle.report(error, connection.conn);
  }

  /**
   * Closes a connection whose handler has settled, and frees its slot. Unless
   * the server has ended it already, it first half-closes it and reads and
   * discards what the peer still sends, until the peer closes or
   * `lingerTimeout` passes. Closing a socket with unread input sends a reset
   * that makes the peer's kernel drop the reply it has not yet read; once the
   * input is drained, the close sends a plain FIN. Never throws.
   */
  #settle(connection: ServedConnection): void {
    const conn = connection.conn;
    if (connection.closedByServer) {
      this.#release(connection);
      return;
    }
    connection.end(settledReason);
    if (
      this.#lingerTimeout === 0 || this.#stopping ||
      typeof conn.closeWrite !== "function" || sawInputEnd(conn)
    ) {
      this.#closeConn(conn);
      this.#release(connection);
      return;
    }
    connection.linger(this.#lingerTimeout).then((close) => {
      if (close) this.#closeConn(conn);
      this.#release(connection);
    }, (error) => {
      // A conn whose closeWrite() throws: close it as if it had not lingered.
      this.#lifecycle.report(error, conn);
      this.#closeConn(conn);
      this.#release(connection);
    });
  }

  /** Forgets a closed connection, which frees its slot and may complete a drain. */
  #release(connection: ServedConnection): void {
    // False when a forced shutdown already let go of the connection.
    if (!this.#connections.delete(connection)) return;
    this.#slotFreed?.();
    if (this.#stopping && this.#connections.size === 0) {
      this.#drained.resolve();
    }
  }

  /**
   * Counts read and write progress for the idle timeout. This is the one
   * place where the engine instruments the caller's connection: a
   * `Deno.Conn` has no progress event, and a timer per read would cost more
   * than the whole read. The conn keeps its own class and methods; only this
   * instance's `read`, `write`, `readable` and `writable` are routed through
   * the counter, so servers without an idle timeout pay nothing. Per read or
   * write this costs one `then`: the least that can observe completion.
   */
  #trackProgress(connection: ServedConnection): void {
    const conn = connection.conn;
    if (this.#nextSweep === Infinity) {
      this.#nextSweep = performance.now() + this.#sweepInterval();
      this.#arm(this.#nextSweep);
    }
    const read = conn.read.bind(conn);
    const write = conn.write.bind(conn);
    const onProgress = <T>(result: T): T => {
      connection.lastProgress = this.#tick;
      return result;
    };
    conn.read = (buffer) => read(buffer).then(onProgress);
    conn.write = (data) => write(data).then(onProgress);
    Object.defineProperties(conn, progressStreams(conn));
  }

  #sweepInterval(): number {
    return this.#idleTimeout! / IDLE_SWEEPS_PER_TIMEOUT;
  }

  /**
   * Sets the one server-wide timer to fire at `at` (a `performance.now()`
   * time) unless it already fires sooner. Deadlines are set later than most
   * others, so this rarely touches the timer.
   */
  #arm = (at: number): void => {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      this.#onTimer,
      Math.max(0, Math.ceil(at - performance.now())),
    );
  };

  #idleReason = (): Error =>
    new Deno.errors.TimedOut(
      `the connection made no progress for more than ${this.#idleTimeout} ms (idleTimeout)`,
    );

  #connectionReason = (): Error =>
    new Deno.errors.TimedOut(
      `the connection was open for more than ${this.#connectionTimeout} ms (connectionTimeout)`,
    );

  /** Runs the idle sweep when due, ends connections past a deadline, and sets the timer again. */
  #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    const sweep = now >= this.#nextSweep;
    if (sweep) {
      this.#tick++;
      this.#nextSweep = now + this.#sweepInterval();
    }
    let earliest = Infinity;
    for (const connection of this.#connections) {
      if (connection.closedByServer) continue;
      // A tick is idleTimeout / IDLE_SWEEPS_PER_TIMEOUT long; progress during
      // tick t is at most (t + 1) ticks old, so this never closes early.
      if (
        sweep && this.#tick - connection.lastProgress > IDLE_SWEEPS_PER_TIMEOUT
      ) {
        if (!connection.lingering) this.#timedOut++;
        this.#endByServer(connection);
        connection.end(this.#idleReason);
      } else if (connection.deadline <= now) {
        // Lingering ends at its own deadline: that is no client's fault.
        if (!connection.lingering) this.#timedOut++;
        this.#endByServer(connection);
        if (connection.requestDeadline <= now) {
          const ms = connection.requestDeadlineMs;
          connection.end(() =>
            new Deno.errors.TimedOut(
              `the handler's deadline of ${ms} ms passed (context.setDeadline)`,
            )
          );
        } else {
          connection.end(this.#connectionReason);
        }
      } else {
        earliest = Math.min(earliest, connection.deadline);
      }
    }
    if (this.#connections.size === 0) this.#nextSweep = Infinity;
    this.#arm(Math.min(this.#nextSweep, earliest));
  };
}

/**
 * Serves connections from `listener`, running `handler` for each.
 *
 * The server owns the listener and every accepted connection: a connection is
 * closed when its handler settles, and the listener when the server stops.
 * A handler that throws or rejects is reported to `onError` and the server
 * goes on serving. A client that resets before it is accepted is skipped at
 * once, unreported. Other accept errors, such as EMFILE (too many open
 * files), are reported, and accepting resumes after a pause that grows from
 * 5 ms to 1 s while they last.
 *
 * @typeParam C The connection type of the listener.
 * @typeParam A The address type of the listener.
 * @param listener A listener from `Deno.listen`, `Deno.listenTls` or a Unix `Deno.listen`.
 * @param handler Called with each connection; may be async.
 * @param options Limits, timeouts, shutdown signal and callbacks.
 * @returns The running server.
 * @throws {TypeError} If the listener, handler or an option has the wrong type.
 * @throws {RangeError} If a number option is out of range.
 * @throws Whatever `onListen` throws; the listener is closed first.
 *
 * @example Iterative server: one client at a time
 * ```ts
 * import { serve } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const greeting = new TextEncoder().encode("hello\n");
 * await using server = serve(listener, (conn) => conn.write(greeting), {
 *   maxConnections: 1,
 * });
 *
 * using client = await Deno.connect({ port: server.addr.port });
 * const text = await new Response(client.readable).text();
 * assertEquals(text, "hello\n");
 * ```
 *
 * @example Stop with a signal
 * ```ts
 * import { serve } from "@sockets/net/server";
 *
 * const controller = new AbortController();
 * const server = serve(Deno.listen({ hostname: "127.0.0.1", port: 0 }), () => {}, {
 *   signal: controller.signal,
 * });
 * controller.abort();
 * await server.finished;
 * ```
 */
export function serve<C extends Deno.Conn, A extends Deno.Addr>(
  listener: Deno.Listener<C, A>,
  handler: ConnectionHandler<C>,
  options: ServeOptions = {},
): Server<A> {
  if (
    listener === null || typeof listener !== "object" ||
    typeof (listener as Partial<Deno.Listener>).accept !== "function" ||
    typeof (listener as Partial<Deno.Listener>).close !== "function"
  ) {
    throw new TypeError(
      `listener must be a Deno.Listener with accept() and close() (from Deno.listen or Deno.listenTls), got ${
        show(listener)
      }`,
    );
  }
  assertFunction(
    handler,
    "handler",
    "(conn, context) => void | Promise<void>",
  );
  assertServerOptions(options, "(error, conn) => void");
  assertKnownOptions(options, SERVE_OPTION_NAMES);
  assertStreamLimits(options);
  proxyGate(options.proxy);
  assertRulesApply(
    ruleGate(options),
    listener.addr,
    options.proxy !== undefined,
  );
  return new Server(
    listener as Deno.Listener<Deno.Conn, A>,
    handler as ConnectionHandler<Deno.Conn>,
    options,
  );
}
