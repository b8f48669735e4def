// What every server of the module shares: the stream engine (`server.ts`),
// the datagram engine (`datagram_server.ts`) and the prefork pool
// (`workers.ts`) take the same lifecycle options, validate them here, start
// and stop the same way, and report errors and back off alike.

import { formatAddress } from "./_address.ts";
import { delay } from "./_async.ts";
import { RULE_OPTION_NAMES, ruleGate } from "./_rules.ts";
import {
  assertCount,
  assertDatagramSize,
  assertFunction,
  assertKnownOptions,
  assertMilliseconds,
  assertOptions,
  assertSignal,
  assertTimeout,
} from "./_validate.ts";

/**
 * The lifecycle options that every server of the module takes: how it is
 * stopped, how long a stop may take, and the callbacks it reports to.
 *
 * @typeParam A The listening address type, given to `onListen`.
 * @typeParam S What an error is about: a connection, a datagram's sender, or nothing.
 *
 * @example Options that any server accepts
 * ```ts
 * import type { ServerOptions } from "@sockets/net/server";
 *
 * const controller = new AbortController();
 * const options: ServerOptions = {
 *   signal: controller.signal,
 *   shutdownTimeout: 5_000,
 *   onListen: (addr) => console.log("listening on", addr),
 *   onError: (error) => console.error(error),
 * };
 * ```
 */
export interface ServerOptions<
  A extends Deno.Addr = Deno.Addr,
  S = Deno.Conn,
> {
  /**
   * Aborting this signal shuts the server down gracefully, as its
   * `shutdown()` does. An already aborted signal stops the server before it
   * serves anything, and `onListen` is not called.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Milliseconds that a shutdown waits for running handlers to finish before
   * it ends them; `Infinity` waits as long as they run.
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * Called with every handler failure (with what it was serving) and every
   * accept or receive error (without); the server keeps serving. Errors of
   * work that the server itself ended (idle, or forced at shutdown) are not
   * reported. If `onError` throws, that error is logged to the console and
   * serving goes on.
   *
   * @default {logs the error to the console}
   */
  onError?: (error: unknown, source?: S) => void;
  /**
   * Called once with the listening address, before the first connection or
   * datagram is served; not called when `signal` is already aborted.
   *
   * @default {undefined}
   */
  onListen?: (addr: A) => void;
}

/** The names of {@linkcode ServerOptions}, for the unknown-option check. */
export const SERVER_OPTION_NAMES: readonly string[] = [
  "signal",
  "shutdownTimeout",
  "onError",
  "onListen",
];

/** The option names of the stream engine, `serve()`, and of every stream server built on it. */
export const SERVE_OPTION_NAMES: readonly string[] = [
  ...SERVER_OPTION_NAMES,
  "maxConnections",
  "idleTimeout",
  "connectionTimeout",
  "lingerTimeout",
  "proxy",
  ...RULE_OPTION_NAMES,
];

/** The option names of `serveDatagrams()` and of every datagram server built on it. */
export const SERVE_DATAGRAMS_OPTION_NAMES: readonly string[] = [
  ...SERVER_OPTION_NAMES,
  "maxConcurrency",
  "maxDatagramSize",
  "handlerTimeout",
  ...RULE_OPTION_NAMES,
];

/**
 * Handlers that run at once by default, and receives in flight under load,
 * so a burst is read while earlier handlers still run. Each worker allocates
 * its receive buffer when it first receives (1 MiB for all 16 at 64 KiB).
 */
export const DEFAULT_MAX_CONCURRENCY = 16;

/** Every receive buffer by default: 64 KiB, more than the largest UDP payload, so no UDP datagram is truncated. */
export const DEFAULT_MAX_DATAGRAM_SIZE = 65_536;

/**
 * Validates the options of a datagram server, as `serveDatagrams()` takes
 * them; `known` adds the names of a transport's own options.
 */
export function assertServeDatagramsOptions(
  options:
    | ServerOptions<never, never> & {
      maxConcurrency?: number;
      maxDatagramSize?: number;
      handlerTimeout?: number;
      allow?: readonly string[];
      deny?: readonly string[];
    }
    | undefined,
  known: readonly string[] = SERVE_DATAGRAMS_OPTION_NAMES,
): void {
  assertServerOptions(options, "(error, from) => void");
  assertKnownOptions(options, known);
  ruleGate(options ?? {});
  const { maxConcurrency, maxDatagramSize } = options ?? {};
  assertCount(maxConcurrency, "options.maxConcurrency");
  if (maxConcurrency === Infinity) {
    throw new RangeError(
      "options.maxConcurrency must be finite, got Infinity: every handler running holds a receive buffer; leave it out for 16",
    );
  }
  assertDatagramSize(maxDatagramSize, "options.maxDatagramSize");
  const { handlerTimeout } = options ?? {};
  assertMilliseconds(
    handlerTimeout,
    "options.handlerTimeout",
    "leave it out for the default of 10 s",
  );
  if (handlerTimeout === 0) {
    throw new RangeError(
      "options.handlerTimeout must be more than 0 ms, got 0: every handler that awaits would be given up; use Infinity to wait for handlers as long as they run, or leave it out for the default of 10 s",
    );
  }
}

/** Time given to handlers at shutdown before they are ended; as `Deno.serve` users expect a bounded stop. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * Whether an accept error means only that one client gave up before
 * `accept()` returned: it reset or aborted its connection while the
 * connection waited in the backlog (health checks that connect and reset do
 * this all day). Deno reports it as `NotConnected` (ENOTCONN, when it reads
 * the peer's address); `ConnectionReset` and `ConnectionAborted`
 * (ECONNABORTED) are the same event on other paths. The next client in the
 * backlog is unaffected, so accepting goes on at once without a report, as
 * Go's runtime retries ECONNABORTED in `accept` (internal/poll/fd_unix.go).
 */
export function isAbandonedConnection(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted;
}

/** First pause after an accept or receive error (EMFILE, ENOBUFS...), as Go's `net/http` server. */
const BACKOFF_MIN_MS = 5;

/** Longest pause between accept or receive retries, as Go's `net/http` server. */
const BACKOFF_MAX_MS = 1_000;

/**
 * Validates the lifecycle options of a server.
 *
 * @param options The server's options object.
 * @param onErrorShape How the server calls `onError`, for the message: `"(error, conn) => void"`.
 */
export function assertServerOptions(
  options: ServerOptions<never, never> | undefined,
  onErrorShape: string,
): void {
  assertOptions(options);
  if (options === undefined) return;
  assertSignal(options.signal, "options.signal");
  assertMilliseconds(
    options.shutdownTimeout,
    "options.shutdownTimeout",
    "leave it out for the default of 10 s",
  );
  if (options.onError !== undefined) {
    assertFunction(options.onError, "options.onError", onErrorShape);
  }
  if (options.onListen !== undefined) {
    assertFunction(options.onListen, "options.onListen", "(addr) => void");
  }
}

/** Logs what went wrong, and where when known, for servers without `onError`. */
function logError(error: unknown, source?: unknown): void {
  const where = describeSource(source);
  console.error(
    `@sockets/net server error${where === "" ? "" : ` (${where})`}:`,
    error,
  );
}

function describeSource(source: unknown): string {
  if (source === null || typeof source !== "object") return "";
  const addr = "remoteAddr" in source ? source.remoteAddr : source;
  return typeof (addr as Partial<Deno.Addr>).transport === "string"
    ? formatAddress(addr as Deno.Addr)
    : "";
}

/**
 * The lifecycle of one server: its start (`onListen`, unless the signal has
 * already aborted), its stop (on `shutdown()` or the signal), the drain of
 * running work bounded by `shutdownTimeout`, error reports that can never
 * throw, and the pause after an accept or receive error.
 */
export class Lifecycle<A extends Deno.Addr, S> {
  readonly #signal: AbortSignal | undefined;
  readonly #onError: (error: unknown, source?: S) => void;
  readonly #onListen: ((addr: A) => void) | undefined;
  readonly #shutdownTimeout: number;
  readonly #stopping = new AbortController();
  #stop: (() => void) | undefined;
  #stopped: Promise<void> | undefined;
  #backoff = 0;

  /** @param options Validated by {@linkcode assertServerOptions}. */
  constructor(options: ServerOptions<A, S>) {
    this.#signal = options.signal;
    this.#onError = options.onError ?? logError;
    this.#onListen = options.onListen;
    this.#shutdownTimeout = options.shutdownTimeout ??
      DEFAULT_SHUTDOWN_TIMEOUT_MS;
  }

  /** Aborts once the server begins to stop; ends backoff pauses at once. */
  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  /**
   * Announces the server: calls `onListen` unless the signal has already
   * aborted, then calls `stop` when the signal aborts (at once if `onListen`
   * aborted it). Throws what `onListen` throws; the caller closes what it
   * opened.
   *
   * @param addr The listening address.
   * @param stop Begins the server's shutdown.
   */
  listen(addr: A, stop: () => void): void {
    if (!this.#signal?.aborted) this.#onListen?.(addr);
    // Checked after onListen, which may itself abort the signal.
    if (this.#signal?.aborted) {
      stop();
    } else {
      this.#stop = stop;
      this.#signal?.addEventListener("abort", stop, { once: true });
    }
  }

  /**
   * Runs `stop` the first time the server is asked to shut down, and returns
   * its promise every time.
   */
  shutdown(stop: () => Promise<void>): Promise<void> {
    this.#stopped ??= stop();
    return this.#stopped;
  }

  /** Marks the server as stopping: no more signal, pauses end. */
  beginStop(): void {
    if (this.#stop !== undefined) {
      this.#signal?.removeEventListener("abort", this.#stop);
      this.#stop = undefined;
    }
    this.#stopping.abort();
  }

  /** Reports `error` to `onError`; a throwing `onError` is logged, never rethrown. */
  report(error: unknown, source?: S): void {
    try {
      this.#onError(error, source);
    } catch (onErrorFailure) {
      logError(onErrorFailure, source);
    }
  }

  /**
   * Pauses after an accept or receive error, 5 ms doubling to 1 s while the
   * errors last, so that running out of descriptors is not a busy loop. A
   * stop ends the pause at once.
   */
  pauseAfterError(): Promise<void> {
    this.#backoff = Math.min(
      this.#backoff === 0 ? BACKOFF_MIN_MS : this.#backoff * 2,
      BACKOFF_MAX_MS,
    );
    return delay(this.#backoff, this.#stopping.signal);
  }

  /** Forgets past errors after a successful accept or receive. */
  succeeded(): void {
    this.#backoff = 0;
  }

  /**
   * Waits for `drained` for up to `shutdownTimeout`, then calls `force`
   * (which ends the work still running) unless it has drained by then.
   */
  async drain(drained: Promise<void>, force: () => void): Promise<void> {
    if (this.#shutdownTimeout === Infinity) return drained;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#shutdownTimeout);
    });
    const which = await Promise.race([
      drained.then(() => true),
      timedOut.then(() => false),
    ]);
    clearTimeout(timer);
    if (!which) force();
  }
}

/**
 * Validates the limits of a stream server (`serve()` and every server built
 * on it, the prefork pool included), so that a wrong one fails the same way
 * everywhere.
 */
export function assertStreamLimits(options: {
  maxConnections?: number;
  idleTimeout?: number;
  connectionTimeout?: number;
  lingerTimeout?: number;
  allow?: readonly string[];
  deny?: readonly string[];
}): void {
  assertCount(options.maxConnections, "options.maxConnections");
  ruleGate(options);
  assertTimeout(options.idleTimeout, "options.idleTimeout");
  assertTimeout(options.connectionTimeout, "options.connectionTimeout");
  assertMilliseconds(
    options.lingerTimeout,
    "options.lingerTimeout",
    "use 0 to close at once, or leave it out for 5 s",
  );
}

/**
 * What a stream server has done so far, as an operator of nginx
 * (`stub_status`) or HAProxy (`show stat`) reads it: plain counts since the
 * server started, read at any moment from {@linkcode Server.counters}.
 * Bytes in and out are not counted: the handler reads and writes the raw
 * `Deno.Conn`, and counting would wrap every read and write of every connection.
 *
 * @example Read a server's counters
 * ```ts
 * import { serve } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serve(
 *   Deno.listen({ hostname: "127.0.0.1", port: 0 }),
 *   () => {},
 * );
 * assertEquals(server.counters.accepted, 0);
 * ```
 */
export interface ServerCounters {
  /** Connections accepted, those then refused by the access rules included. */
  readonly accepted: number;
  /** Connections being served now, as {@linkcode Server.connections}. */
  readonly active: number;
  /** Connections closed before any handler ran because `allow` or `deny` refused their client. */
  readonly refusedByRules: number;
  /**
   * Times the server reached `maxConnections` and paused accepting until a
   * connection ended: the clients that came meanwhile waited in the backlog,
   * none was refused. An iterative server (`maxConnections: 1`) counts each
   * connection.
   */
  readonly limitReached: number;
  /** Connections the server ended at `idleTimeout`, `connectionTimeout` or the handler's `context.setDeadline`. */
  readonly timedOut: number;
  /** Handlers that threw or rejected, each reported to `onError`. */
  readonly handlerErrors: number;
}

/**
 * Closes `resource`; closing it twice (its user closed it already) is
 * expected. Returns any other failure instead of throwing it, so that no
 * close can take the server down.
 */
export function tryClose(resource: { close(): void }): unknown {
  try {
    resource.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) return error;
  }
  return undefined;
}
