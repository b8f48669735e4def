/**
 * The one datagram-server engine behind UDP and Unix datagram servers.
 *
 * {@linkcode serveDatagrams} receives from any `Deno.DatagramConn` (from
 * `Deno.listenDatagram`, UDP or Unix) and runs a handler for each datagram,
 * sending back what it returns: the classic loop of `recvfrom()`, handle,
 * `sendto()`. It is the datagram counterpart of the stream engine `serve()`,
 * with the same lifecycle options (`signal`, `shutdownTimeout`, `onError`,
 * `onListen`) meaning the same things:
 *
 * - **concurrent** (the default): up to `maxConcurrency` handlers at once,
 *   each with its own receive buffer;
 * - **iterative**: `maxConcurrency: 1` handles one datagram at a time while
 *   the next ones wait in the socket's receive buffer.
 *
 * Handlers are bounded in number (`maxConcurrency`) and in time
 * (`handlerTimeout`): the engine stops waiting for a handler that runs past
 * its time, aborts its context's signal, reports it, and serves the next
 * datagram with a fresh worker, so handlers that never settle cannot stop
 * the server.
 *
 * The server owns the socket: at shutdown it stops receiving, lets running
 * handlers reply for up to `shutdownTimeout`, then closes the socket.
 *
 * @example An echo server over a UDP socket of Deno's own
 * ```ts
 * import { serveDatagrams } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const socket = Deno.listenDatagram({
 *   transport: "udp",
 *   hostname: "127.0.0.1",
 *   port: 0,
 * });
 * await using server = serveDatagrams(socket, (data) => data);
 *
 * const client = Deno.listenDatagram({
 *   transport: "udp",
 *   hostname: "127.0.0.1",
 *   port: 0,
 * });
 * await client.send(new TextEncoder().encode("ping"), server.addr);
 * const [reply] = await client.receive();
 * client.close();
 * assertEquals(new TextDecoder().decode(reply), "ping");
 * ```
 *
 * @module
 */

import { formatAddress } from "./_address.ts";
import { abortReason, isPromiseLike } from "./_async.ts";
import { annotate, type Network } from "./_errors.ts";
import {
  assertServeDatagramsOptions,
  DEFAULT_MAX_CONCURRENCY,
  DEFAULT_MAX_DATAGRAM_SIZE,
  Lifecycle,
  type ServerOptions,
  tryClose,
} from "./_lifecycle.ts";
import { ReceiveWindow } from "./_receive_window.ts";
import {
  type AccessRules,
  admits,
  assertRulesApply,
  type RuleGate,
  ruleGate,
} from "./_rules.ts";
import { assertFunction, show } from "./_validate.ts";

/**
 * What a datagram handler returns: a reply, sent back to the sender as one
 * datagram, or nothing.
 *
 * @example Answer some datagrams and not others
 * ```ts
 * import { type DatagramReply, requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp(
 *   { hostname: "127.0.0.1", port: 0 },
 *   (data): DatagramReply => data[0] === 0 ? null : data,
 * );
 * assertEquals(await requestUdp(new Uint8Array([1]), server.addr), new Uint8Array([1]));
 * ```
 */
export type DatagramReply = Uint8Array | null | undefined | void;

/**
 * What the engine tells a datagram handler besides the datagram.
 *
 * @example Give up a slow lookup when the server stops
 * ```ts
 * import type { DatagramHandler } from "@sockets/net/server";
 *
 * const handler: DatagramHandler = async (_data, _from, { signal }) => {
 *   const answer = await fetch("http://127.0.0.1:9/", { signal }).catch(() => null);
 *   return answer === null ? undefined : new Uint8Array(await answer.arrayBuffer());
 * };
 * ```
 */
export interface DatagramContext {
  /**
   * Aborts when the server stops waiting for this handler: when it runs past
   * `handlerTimeout` (reason: `Deno.errors.TimedOut`; its reply, if it
   * comes, is dropped), or when a shutdown's `shutdownTimeout` passes
   * (reason: `Deno.errors.Interrupted`) and the socket is closed, so that
   * its reply could not be sent.
   */
  readonly signal: AbortSignal;
}

/**
 * How long a datagram handler may run by default before the engine stops
 * waiting for it: 10 s, the time glibc's resolver waits for an answer before
 * it gives up (resolv.conf(5): `timeout:5` times `attempts:2`), longer than
 * `requestUdp`'s whole default retry budget (7.5 s). A reply later than that
 * reaches nobody, while a stuck handler would hold a worker forever.
 *
 * @example A handler that needs longer than the default
 * ```ts
 * import { DEFAULT_HANDLER_TIMEOUT_MS } from "@sockets/net/server";
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(DEFAULT_HANDLER_TIMEOUT_MS, 10_000);
 * await using server = serveUdp(
 *   {
 *     hostname: "127.0.0.1",
 *     port: 0,
 *     handlerTimeout: 3 * DEFAULT_HANDLER_TIMEOUT_MS,
 *   },
 *   (data) => data,
 * );
 * assertEquals(await requestUdp(new Uint8Array([1]), server.addr), new Uint8Array([1]));
 * ```
 */
export const DEFAULT_HANDLER_TIMEOUT_MS = 10_000;

/**
 * The handler-timeout sweep runs this many times per `handlerTimeout`: a
 * handler is given up between `handlerTimeout` and 1.25 times it, with one
 * timer per server instead of one per datagram (as the stream engine's idle
 * sweep).
 */
const HANDLER_SWEEPS_PER_TIMEOUT = 4;

/**
 * A datagram handler: called with each datagram and its sender; what it
 * returns (or resolves to) is sent back to the sender.
 *
 * `data` is a view of the receive buffer of the worker that received it,
 * valid until the handler settles (returning it as the reply is fine); copy
 * it with `data.slice()` to keep it longer.
 *
 * @typeParam A The address type of the socket: `Deno.NetAddr` for UDP,
 * `Deno.UnixAddr` for Unix datagrams.
 *
 * @example An uppercasing handler
 * ```ts
 * import type { DatagramHandler } from "@sockets/net/server";
 *
 * const encoder = new TextEncoder();
 * const decoder = new TextDecoder();
 * const shout: DatagramHandler = (data) =>
 *   encoder.encode(decoder.decode(data).toUpperCase());
 * ```
 */
export type DatagramHandler<A extends Deno.Addr = Deno.Addr> = (
  data: Uint8Array<ArrayBuffer>,
  from: A,
  context: DatagramContext,
) => DatagramReply | Promise<DatagramReply>;

/**
 * Options of {@linkcode serveDatagrams}, shared by every datagram server of
 * the module: the lifecycle options of every server, plus the limits of a
 * datagram server.
 *
 * @typeParam A The address type of the socket.
 *
 * @example An iterative server that stops with a signal
 * ```ts
 * import type { ServeDatagramsOptions } from "@sockets/net/server";
 *
 * const controller = new AbortController();
 * const options: ServeDatagramsOptions = {
 *   maxConcurrency: 1,
 *   signal: controller.signal,
 * };
 * ```
 */
export interface ServeDatagramsOptions<A extends Deno.Addr = Deno.Addr>
  extends ServerOptions<A, A>, AccessRules {
  /**
   * The most handlers running at once, and the most receives in flight
   * (how many are in flight follows the load), each with its own buffer of
   * `maxDatagramSize` bytes. At the limit, datagrams wait in the socket's
   * receive buffer, and the kernel drops them when it is full, as datagram
   * sockets do. `1` makes an iterative server. It must be finite: every
   * handler running holds a buffer.
   *
   * @default {16}
   */
  maxConcurrency?: number;
  /**
   * The largest datagram received whole, in bytes: the size of each receive
   * buffer. The rest of a longer one is discarded, as `recvfrom(2)` does
   * with a short buffer.
   *
   * @default {65536}
   */
  maxDatagramSize?: number;
  /**
   * Milliseconds a handler may run before the server stops waiting for it:
   * its context's signal aborts with `Deno.errors.TimedOut`, the timeout is
   * reported to `onError` with the sender and counted in
   * {@linkcode DatagramServer.timedOut}, its reply (if it ever comes) is
   * dropped, and a fresh worker with a new receive buffer takes its place
   * (the handler may still hold its `data`). So handlers that never settle
   * cannot take every worker and stop the server; such handlers still hold
   * their own memory until they settle. The bound is checked four times per
   * `handlerTimeout`: a handler is given up between `handlerTimeout` and
   * 1.25 times it. Only handlers that return a promise can run past it.
   * `Infinity` waits for every handler as long as it runs.
   *
   * @default {10000}
   */
  handlerTimeout?: number;
}

/**
 * What a datagram server has done so far: plain counts since it started,
 * read at any moment from {@linkcode DatagramServer.counters}.
 *
 * @example Read a datagram server's counters
 * ```ts
 * import { serveDatagrams } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveDatagrams(
 *   Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
 *   () => {},
 * );
 * assertEquals(server.counters.received, 0);
 * ```
 */
export interface DatagramServerCounters {
  /** Datagrams received, those then dropped by the access rules included. */
  readonly received: number;
  /** Handlers running now, as {@linkcode DatagramServer.busy}. */
  readonly busy: number;
  /** Datagrams dropped before the handler because `allow` or `deny` refused their sender. */
  readonly refusedByRules: number;
  /**
   * Times all `maxConcurrency` handlers were running at once, so that the
   * next datagrams waited in the socket's receive buffer (where the system
   * drops what overflows it); none is dropped by the server. An iterative
   * server (`maxConcurrency: 1`) counts each datagram handled.
   */
  readonly limitReached: number;
  /** Handlers given up at `handlerTimeout`, as {@linkcode DatagramServer.timedOut}. */
  readonly timedOut: number;
  /** Handlers that threw or rejected, or whose reply could not be sent, each reported to `onError`. */
  readonly handlerErrors: number;
  /** Bytes of the datagrams received (as truncated to `maxDatagramSize`), those refused included. */
  readonly bytesIn: number;
  /** Bytes of the replies sent. */
  readonly bytesOut: number;
}

/**
 * One worker of a datagram server, and the context its handlers see: the
 * signal is made only when a handler asks for it, so handlers that never do
 * cost nothing more, and one worker's context serves all its datagrams
 * until the server gives up on one of its handlers.
 */
class DatagramWorker<A> implements DatagramContext {
  /** The sweep's tick when the running handler returned a promise; -1 while none is awaited. */
  since = -1;
  /** The sender of the datagram being handled, for the timeout report. */
  from: A | undefined;
  /** Set when the server stopped waiting for this worker's handler: the worker ends when it settles. */
  abandoned = false;
  #controller: AbortController | undefined;
  #endReason: unknown;
  #ended = false;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#ended) this.#controller.abort(this.#endReason);
    }
    return this.#controller.signal;
  }

  /** Aborts the signal of this worker's handlers (once). */
  end(reason: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endReason = reason;
    this.#controller?.abort(reason);
  }
}

/**
 * A running datagram server: returned by {@linkcode serveDatagrams} and the
 * transport functions built on it (`serveUdp`, `serveUnixDatagram`).
 *
 * @typeParam A The address type of the socket.
 *
 * @example Shut down at the end of a scope
 * ```ts
 * import { serveDatagrams } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const socket = Deno.listenDatagram({
 *   transport: "udp",
 *   hostname: "127.0.0.1",
 *   port: 0,
 * });
 * {
 *   await using server = serveDatagrams(socket, () => {});
 *   assertEquals(server.busy, 0);
 * }
 * ```
 */
export class DatagramServer<A extends Deno.Addr = Deno.Addr>
  implements AsyncDisposable {
  readonly #socket: Deno.DatagramConn;
  readonly #addr: A;
  readonly #handler: DatagramHandler<A>;
  readonly #checkReply: ((reply: Uint8Array, to: A) => void) | undefined;
  readonly #maxDatagramSize: number;
  readonly #lifecycle: Lifecycle<Deno.Addr, A>;
  readonly #receives: ReceiveWindow;
  readonly #handlerTimeout: number;
  /** The workers serving now; a worker whose handler timed out leaves the set. */
  readonly #workers = new Set<DatagramWorker<A>>();
  /** Resolves when every worker has ended. */
  readonly #workersEnded = Promise.withResolvers<void>();
  readonly #finished: Promise<void>;
  readonly #drained = Promise.withResolvers<void>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Counts the handler-timeout sweeps. */
  #tick = 0;
  #timedOut = 0;
  #received = 0;
  #refusedByRules = 0;
  #limitReached = 0;
  #handlerErrors = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #maxConcurrency: number;
  readonly #rules: RuleGate | undefined;
  /** Idle workers; waking one with `true` hands it a receive to post. */
  readonly #parked: ((receive: boolean) => void)[] = [];
  #stopping = false;
  #closed = false;
  #busy = 0;

  /**
   * Starts serving; use {@linkcode serveDatagrams}, which validates its
   * arguments, rather than this constructor.
   *
   * @param socket The bound datagram socket; the server owns it from now on.
   * @param handler Runs for each datagram.
   * @param options Server options.
   * @param checkReply Checks each reply before it is sent, for the transport's own limits.
   */
  constructor(
    socket: Deno.DatagramConn,
    handler: DatagramHandler<A>,
    options: ServeDatagramsOptions<A> = {},
    checkReply?: (reply: Uint8Array, to: A) => void,
  ) {
    this.#socket = socket;
    this.#addr = socket.addr as A;
    this.#handler = handler;
    this.#checkReply = checkReply;
    this.#maxDatagramSize = options.maxDatagramSize ??
      DEFAULT_MAX_DATAGRAM_SIZE;
    this.#lifecycle = new Lifecycle<Deno.Addr, A>(
      options as ServerOptions<Deno.Addr, A>,
    );
    this.#handlerTimeout = options.handlerTimeout ??
      DEFAULT_HANDLER_TIMEOUT_MS;
    this.#rules = ruleGate(options);
    const workers = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    this.#maxConcurrency = workers;
    this.#receives = new ReceiveWindow(workers, this.#wakeReceivers);
    try {
      this.#lifecycle.listen(this.#addr, () => this.shutdown());
    } catch (error) {
      this.#close();
      throw error;
    }
    this.#finished = this.#workersEnded.promise.then(() => {
      this.#stopping = true;
      this.#lifecycle.beginStop();
      clearInterval(this.#sweeper);
      this.#close();
    });
    if (this.#handlerTimeout !== Infinity && !this.#stopping) {
      this.#sweeper = setInterval(
        this.#sweep,
        Math.max(1, this.#handlerTimeout / HANDLER_SWEEPS_PER_TIMEOUT),
      );
    }
    for (let i = 0; i < workers; i++) this.#startWorker();
  }

  /** The address the server is bound to; for UDP port 0, `addr.port` is the port the system chose. */
  get addr(): A {
    return this.#addr;
  }

  /** How many handlers are running now, not counting those given up at `handlerTimeout`. */
  get busy(): number {
    return this.#busy;
  }

  /** How many handlers ran past `handlerTimeout` and were given up so far. */
  get timedOut(): number {
    return this.#timedOut;
  }

  /** What the server has done so far: a fresh object of plain counts at each read. */
  get counters(): DatagramServerCounters {
    return {
      received: this.#received,
      busy: this.#busy,
      refusedByRules: this.#refusedByRules,
      limitReached: this.#limitReached,
      timedOut: this.#timedOut,
      handlerErrors: this.#handlerErrors,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
    };
  }

  /** Resolves when the server has stopped: socket closed, no handler waited for. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  /**
   * Stops taking datagrams, waits up to `shutdownTimeout` for running
   * handlers to reply, then closes the socket. Calling it again returns the
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

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = tryClose(this.#socket);
    if (error !== undefined) this.#lifecycle.report(error);
  }

  #stop = async (): Promise<void> => {
    this.#stopping = true;
    this.#lifecycle.beginStop();
    for (const wake of this.#parked.splice(0)) wake(false);
    if (this.#busy === 0) this.#drained.resolve();
    await this.#lifecycle.drain(this.#drained.promise, () => {
      this.#endWorkers(
        new Deno.errors.Interrupted(
          "the server shut down and its shutdownTimeout passed",
        ),
      );
    });
    // The idle workers wait in receive(): closing the socket ends them.
    this.#close();
    this.#endWorkers(abortReason("the server has stopped"));
    await this.#finished;
  };

  #endWorkers(reason: unknown): void {
    for (const worker of this.#workers) worker.end(reason);
  }

  #startWorker(): void {
    const worker = new DatagramWorker<A>();
    this.#workers.add(worker);
    this.#work(worker)
      .catch((error) => this.#lifecycle.report(error))
      .finally(() => this.#workerEnded(worker));
  }

  #workerEnded(worker: DatagramWorker<A>): void {
    // A worker given up at handlerTimeout has already left the set.
    if (this.#workers.delete(worker) && this.#workers.size === 0) {
      this.#workersEnded.resolve();
    }
  }

  /** Gives up the handlers that have run past `handlerTimeout`. */
  #sweep = (): void => {
    this.#tick++;
    for (const worker of this.#workers) {
      if (
        worker.since >= 0 &&
        this.#tick - worker.since > HANDLER_SWEEPS_PER_TIMEOUT
      ) {
        this.#giveUp(worker);
      }
    }
  };

  /**
   * Stops waiting for `worker`'s handler: its signal aborts, the timeout is
   * reported, and a fresh worker (with its own receive buffer, since the
   * handler may still hold `data`) takes its place.
   */
  #giveUp(worker: DatagramWorker<A>): void {
    worker.abandoned = true;
    this.#timedOut++;
    this.#busy--;
    const from = worker.from!;
    const error = new Deno.errors.TimedOut(
      `handle ${this.#addr.transport} ${
        formatAddress(from)
      }: the handler ran past handlerTimeout (${this.#handlerTimeout} ms); the server stopped waiting, aborted its context.signal and will drop its reply; make the handler finish sooner or honor context.signal, or raise options.handlerTimeout`,
    );
    worker.end(error);
    this.#lifecycle.report(error, from);
    if (this.#busy === 0 && this.#stopping) this.#drained.resolve();
    if (this.#stopping) {
      this.#workerEnded(worker);
    } else {
      this.#workers.delete(worker);
      this.#startWorker();
    }
  }

  /**
   * One worker: a receive into its own buffer, then the handler and its
   * reply, then the next receive, or a rest while the socket already has as
   * many receives in flight as the load needs (see `_receive_window.ts`). The
   * buffer is reused, so the hot path allocates nothing of its own, and a
   * worker that never receives never allocates it.
   */
  async #work(worker: DatagramWorker<A>): Promise<void> {
    let buffer: Uint8Array<ArrayBuffer> | undefined;
    while (!this.#stopping) {
      if (this.#receives.hasRoom) this.#receives.posted();
      else if (!await this.#park()) return;
      buffer ??= new Uint8Array(this.#maxDatagramSize);
      let data: Uint8Array<ArrayBuffer>;
      let from: A;
      try {
        [data, from] = await this.#socket.receive(buffer) as [
          Uint8Array<ArrayBuffer>,
          A,
        ];
      } catch (error) {
        this.#receives.failed();
        if (this.#stopping || this.#closed) return;
        if (error instanceof Deno.errors.BadResource) return;
        this.#lifecycle.report(this.#explain(error, "receive", this.#addr));
        await this.#lifecycle.pauseAfterError();
        continue;
      }
      this.#receives.completed();
      // The next datagram must not wait for this handler.
      this.#wakeReceivers();
      this.#lifecycle.succeeded();
      this.#received++;
      this.#bytesIn += data.length;
      // A datagram that arrives during a shutdown is not served.
      if (this.#stopping) return;
      if (this.#rules !== undefined && !admits(this.#rules, from)) {
        this.#refusedByRules++;
        continue;
      }
      if (++this.#busy === this.#maxConcurrency) this.#limitReached++;
      try {
        let reply = this.#handler(data, from, worker);
        // Awaiting a plain reply would cost a turn of the microtask queue.
        if (isPromiseLike(reply)) {
          worker.since = this.#tick;
          worker.from = from;
          try {
            reply = await reply;
          } finally {
            worker.since = -1;
          }
        }
        if (worker.abandoned) return;
        if (reply !== undefined && reply !== null) {
          await this.#reply(reply, from);
        }
      } catch (error) {
        // The failure of a handler given up at handlerTimeout was reported as a timeout.
        if (!this.#closed && !worker.abandoned) {
          this.#handlerErrors++;
          this.#lifecycle.report(error, from);
        }
      } finally {
        if (!worker.abandoned) {
          this.#busy--;
          if (this.#busy === 0 && this.#stopping) this.#drained.resolve();
        }
      }
    }
  }

  async #reply(reply: Uint8Array, to: A): Promise<void> {
    if (!(reply instanceof Uint8Array)) {
      throw new TypeError(
        `the handler's reply must be a Uint8Array, or undefined for no reply, got ${
          show(reply)
        }`,
      );
    }
    this.#checkReply?.(reply, to);
    try {
      const sent = await this.#socket.send(reply, to);
      this.#bytesOut += sent;
    } catch (error) {
      throw this.#explain(error, "send", to);
    }
  }

  #explain(error: unknown, op: string, addr: Deno.Addr): unknown {
    return annotate(error, {
      op,
      network: addr.transport as Network,
      address: formatAddress(addr),
      port: "port" in addr ? addr.port : undefined,
    });
  }

  /** Rests an idle worker: true when it is given a receive, false at shutdown. */
  #park(): Promise<boolean> {
    return new Promise<boolean>((wake) => this.#parked.push(wake));
  }

  /** Hands receives to resting workers while the window has room. */
  #wakeReceivers = (): void => {
    while (this.#receives.hasRoom && this.#parked.length > 0) {
      this.#receives.posted();
      this.#parked.pop()!(true);
    }
  };
}

/**
 * Serves every datagram that arrives on `socket` with `handler`, sending back
 * what it returns. The server owns the socket and closes it when it stops.
 *
 * A handler that throws or rejects is reported to `onError` with the sender,
 * and the server goes on serving; so are receive errors, after a pause that
 * grows from 5 ms to 1 s while they last.
 *
 * @typeParam A The address type of the socket.
 * @param socket A bound socket from `Deno.listenDatagram` (UDP or Unix).
 * @param handler Called with each datagram, its sender and a context; may be async.
 * @param options Concurrency, buffer size, shutdown signal and callbacks.
 * @returns The running server.
 * @throws {TypeError} If the socket, the handler or an option has the wrong
 * type, or an option name is unknown.
 * @throws {RangeError} If a number option is out of range.
 * @throws Whatever `onListen` throws; the socket is closed first.
 *
 * @example A UDP time server, stopped with a signal
 * ```ts
 * import { serveDatagrams } from "@sockets/net/server";
 *
 * const controller = new AbortController();
 * const socket = Deno.listenDatagram({
 *   transport: "udp",
 *   hostname: "127.0.0.1",
 *   port: 0,
 * });
 * const server = serveDatagrams(
 *   socket,
 *   () => new TextEncoder().encode(new Date().toISOString()),
 *   { signal: controller.signal },
 * );
 * controller.abort();
 * await server.finished;
 * ```
 */
export function serveDatagrams<A extends Deno.Addr = Deno.Addr>(
  socket: Deno.DatagramConn,
  handler: DatagramHandler<A>,
  options: ServeDatagramsOptions<A> = {},
): DatagramServer<A> {
  if (
    socket === null || typeof socket !== "object" ||
    typeof (socket as Partial<Deno.DatagramConn>).receive !== "function" ||
    typeof (socket as Partial<Deno.DatagramConn>).send !== "function"
  ) {
    throw new TypeError(
      `socket must be a Deno.DatagramConn with receive() and send() (from Deno.listenDatagram), got ${
        show(socket)
      }`,
    );
  }
  assertFunction(
    handler,
    "handler",
    "(data, from, context) => reply | undefined",
  );
  assertServeDatagramsOptions(options);
  assertRulesApply(ruleGate(options), socket.addr, false);
  return new DatagramServer(socket, handler, options);
}
