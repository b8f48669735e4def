/**
 * The prefork server: {@linkcode serveWorkers} starts a pool of Web Workers,
 * each with its own TCP listener on the same port (`SO_REUSEPORT`), so that
 * the kernel spreads incoming connections across the workers and the
 * handlers run on several cores.
 *
 * The handler lives in a module of its own, because a function cannot be
 * sent to a worker: each worker imports the module and serves with its
 * **default export**, a connection handler as `serveTcp` takes.
 *
 * ```ts ignore
 * // handler.ts
 * import { copy } from "@sockets/net/io";
 * export default (conn: Deno.TcpConn) => copy(conn, conn);
 * ```
 *
 * Each worker runs the stream-server engine of `server.ts` with the pool's
 * `maxConnections` (per worker), `idleTimeout` and `shutdownTimeout`. A worker
 * that dies (an uncaught error, `self.close()`, `Deno.exit()`) is reported to
 * `onError` and replaced, unless workers keep dying: then the pool stops and
 * `finished` rejects.
 *
 * Linux only: elsewhere `SO_REUSEPORT` does not balance connections (Deno
 * sets it on Linux alone), so {@linkcode serveWorkers} throws
 * `Deno.errors.NotSupported`. The kernel picks a listener by a hash of each
 * connection's addresses and ports, so a handful of connections may well all
 * land on one worker; many connections spread evenly.
 *
 * Permissions: workers have the permissions of the main thread, and need:
 * - `--unstable-net`, for `reusePort`;
 * - `--allow-net=HOST`, for the listeners;
 * - read access to every local module a worker loads: a worker loads its
 *   modules as a dynamic `import()` does, so Deno checks `--allow-read` for
 *   each `file:` module, the handler module and its imports, and this
 *   package's own files when it is used from a local copy. Modules loaded
 *   from `jsr:` or `https:` need no read access. From a checkout of this
 *   package, `--allow-read=.` in its directory covers both.
 *
 * @example A pool of two workers
 * ```ts
 * import { serveWorkers } from "@sockets/net/workers";
 * import { assertEquals } from "@std/assert";
 *
 * const module = `data:text/javascript,${
 *   encodeURIComponent(
 *     "export default (conn) => conn.write(new TextEncoder().encode('hi'));",
 *   )
 * }`;
 * await using pool = await serveWorkers(module, {
 *   hostname: "127.0.0.1",
 *   workers: 2,
 * });
 * using conn = await Deno.connect({ port: pool.addr.port });
 * assertEquals(await new Response(conn.readable).text(), "hi");
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import { abortable } from "./_async.ts";
import { requireUnstableNet } from "./_errors.ts";
import { proxyGate } from "./_proxy_serve.ts";
import {
  assertServerOptions,
  assertStreamLimits,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  Lifecycle,
  SERVE_OPTION_NAMES,
  type ServerCounters,
  type ServerOptions,
} from "./_lifecycle.ts";
import { DEFAULT_LISTEN_HOSTNAME, joinHostPort } from "./_address.ts";
import { assertHostname, assertKnownOptions, show } from "./_validate.ts";
import {
  fromWire,
  type FromWorker,
  readPermissionFix,
  type ToWorker,
} from "./_worker_protocol.ts";
import type { ServeOptions } from "./server.ts";
import { resolvePort } from "./services.ts";

export type {
  AccessRules,
  ProxyOptions,
  ServeOptions,
  ServerCounters,
  ServerOptions,
} from "./server.ts";

/**
 * Options of {@linkcode serveWorkers}: where to listen, how many workers, and
 * the options of every server. `maxConnections`, `idleTimeout`,
 * `connectionTimeout`, `lingerTimeout`, `proxy`, `allow` and `deny` apply to each worker's
 * own engine (so `maxConnections` is per worker). The pool
 * reports to `onError` what its workers report (copies of their errors: the
 * same class for the built-in and `Deno.errors` classes, the same name,
 * message, stack and causes) and every death of a worker, its cause
 * attached; the death that makes the pool give up rejects `finished`
 * instead. A signal that aborts while the pool starts makes
 * {@linkcode serveWorkers} reject with its reason.
 *
 * @example Two workers on a port the system chooses
 * ```ts
 * import { serveWorkers } from "@sockets/net/workers";
 * import { assertEquals } from "@std/assert";
 *
 * await using pool = await serveWorkers(
 *   `data:text/javascript,${encodeURIComponent("export default (conn) => conn.close();")}`,
 *   { hostname: "127.0.0.1", port: 0, workers: 2, shutdownTimeout: 5_000 },
 * );
 * assertEquals(pool.workers, 2);
 * ```
 */
export interface ServeWorkersOptions
  extends
    ServerOptions<Deno.NetAddr, never>,
    Pick<
      ServeOptions,
      | "maxConnections"
      | "idleTimeout"
      | "connectionTimeout"
      | "lingerTimeout"
      | "proxy"
      | "allow"
      | "deny"
    > {
  /**
   * The address every worker listens on: an IP address of this machine, a
   * host name, or `0.0.0.0` / `::` for every address.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The port: a number, a numeric string or a service name such as `"http"`,
   * resolved once. With `0` the first worker gets a free port from the
   * system and the others listen on that one; `pool.addr.port` tells which.
   *
   * @default {0}
   */
  port?: number | string;
  /**
   * The port to use when `port` is a service name that is not found.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
  /**
   * How many workers, each with its own listener.
   *
   * @default {navigator.hardwareConcurrency}
   */
  workers?: number;
}

/** The option names of {@linkcode serveWorkers}, for the unknown-option check. */
const SERVE_WORKERS_OPTION_NAMES: readonly string[] = [
  ...SERVE_OPTION_NAMES,
  "hostname",
  "port",
  "defaultPort",
  "workers",
];

/**
 * A running pool of workers, returned by {@linkcode serveWorkers}.
 *
 * @example Stop a pool
 * ```ts
 * import { serveWorkers, type WorkerPool } from "@sockets/net/workers";
 *
 * const pool: WorkerPool = await serveWorkers(
 *   "data:text/javascript,export default () => {}",
 *   { hostname: "127.0.0.1", workers: 1 },
 * );
 * console.log(`${pool.workers} worker on port ${pool.addr.port}`);
 * await pool.shutdown();
 * ```
 */
export interface WorkerPool extends AsyncDisposable {
  /** The address every worker listens on; for port 0, the port the system chose. */
  readonly addr: Deno.NetAddr;
  /** How many workers are serving now. */
  readonly workers: number;
  /**
   * The sum of every worker's {@linkcode ServerCounters}, those of workers
   * that died or were replaced included; `active` is the open connections of
   * the workers serving now. Each worker sends its counters at most once a second while it
   * serves, so the sum may lag by that much; after `finished` it is exact,
   * unless a worker had to be terminated before it reported.
   */
  readonly counters: ServerCounters;
  /**
   * Resolves when the pool has stopped and every worker is terminated;
   * rejects if the pool stopped because its workers kept dying.
   */
  readonly finished: Promise<void>;
  /**
   * Tells every worker to stop accepting and drain, as `Server.shutdown()`
   * does, then terminates it. Calling it again returns the same promise.
   *
   * @returns A promise that resolves when every worker is terminated, even
   * when `finished` rejects.
   */
  shutdown(): Promise<void>;
}

/**
 * Workers that may die within {@linkcode RESTART_WINDOW_MS} before the pool
 * gives up: systemd's `DefaultStartLimitBurst`.
 */
const RESTART_BURST = 5;

/** The window of {@linkcode RESTART_BURST}: systemd's `DefaultStartLimitIntervalSec`. */
const RESTART_WINDOW_MS = 10_000;

/**
 * How long after its `shutdownTimeout` a worker may take to report that it
 * stopped before it is terminated anyway: its closes are done by then unless
 * a handler blocks its event loop.
 */
const SHUTDOWN_GRACE_MS = 1_000;

/** The code that each worker runs. */
const WORKER_ENTRY = new URL("./_worker_entry.ts", import.meta.url);

/** Turns the bare event of a worker whose own code could not load into an error with the fix. */
function loadError(event: ErrorEvent): Error {
  if (event.error instanceof Error) return event.error;
  const error = new Error(event.message);
  const fix = readPermissionFix(error);
  if (fix === undefined) return error;
  return new Deno.errors.NotCapable(
    `serveWorkers: a worker cannot load its modules: ${fix}`,
    { cause: error },
  );
}

/** One worker, from its start to its end. */
interface Member {
  /** Its place in the pool, from 0. */
  slot: number;
  worker: Worker;
  listening: boolean;
  ended: boolean;
  /** Settles when the worker listens, or fails or ends before that. */
  started: PromiseWithResolvers<Deno.NetAddr>;
  /** Resolves when the worker is terminated. */
  gone: PromiseWithResolvers<void>;
  /** The counters it last sent. */
  counters: ServerCounters | undefined;
}

/** Counters that are all zero: the start of every sum. */
function noCounters(): ServerCounters {
  return {
    accepted: 0,
    active: 0,
    refusedByRules: 0,
    limitReached: 0,
    timedOut: 0,
    handlerErrors: 0,
  };
}

/** Adds `counters` to `sum`, in place. */
function addCounters(sum: ServerCounters, counters: ServerCounters): void {
  for (const name of Object.keys(sum) as (keyof ServerCounters)[]) {
    (sum as Record<keyof ServerCounters, number>)[name] += counters[name];
  }
}

/** The options that `serveWorkers` passes to every worker as they are. */
type WorkerOptions = Pick<
  ServeWorkersOptions,
  | "maxConnections"
  | "idleTimeout"
  | "connectionTimeout"
  | "lingerTimeout"
  | "shutdownTimeout"
  | "proxy"
  | "allow"
  | "deny"
>;

class Pool implements WorkerPool {
  readonly #module: string;
  readonly #hostname: string;
  #port: number;
  readonly #size: number;
  readonly #workerOptions: WorkerOptions;
  readonly #signal: AbortSignal | undefined;
  readonly #lifecycle: Lifecycle<Deno.NetAddr, never>;
  readonly #members = new Set<Member>();
  readonly #deaths: number[] = [];
  readonly #finished = Promise.withResolvers<void>();
  /** The sum of the last counters of the workers that have ended. */
  readonly #endedCounters = noCounters();
  #addr: Deno.NetAddr | undefined;
  /** Set once every first worker listens and `onListen` has run. */
  #running = false;
  #failure: Error | undefined;

  constructor(
    module: string,
    hostname: string,
    port: number,
    size: number,
    options: ServeWorkersOptions,
  ) {
    this.#module = module;
    this.#hostname = hostname;
    this.#port = port;
    this.#size = size;
    const {
      maxConnections,
      idleTimeout,
      connectionTimeout,
      lingerTimeout,
      shutdownTimeout,
      proxy,
      allow,
      deny,
    } = options;
    this.#workerOptions = {
      maxConnections,
      idleTimeout,
      connectionTimeout,
      lingerTimeout,
      shutdownTimeout,
      proxy,
      allow,
      deny,
    };
    this.#signal = options.signal;
    // Each worker drains for shutdownTimeout itself; the pool waits a grace
    // period longer for its report before it terminates the worker.
    this.#lifecycle = new Lifecycle({
      ...options,
      shutdownTimeout: (shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS) +
        SHUTDOWN_GRACE_MS,
    });
  }

  get addr(): Deno.NetAddr {
    return this.#addr!;
  }

  get workers(): number {
    let count = 0;
    for (const member of this.#members) if (member.listening) count++;
    return count;
  }

  get counters(): ServerCounters {
    const sum = { ...this.#endedCounters };
    for (const member of this.#members) {
      if (member.counters !== undefined) addCounters(sum, member.counters);
    }
    return sum;
  }

  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  shutdown(): Promise<void> {
    return this.#lifecycle.shutdown(this.#stop);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /**
   * Starts every worker: the first alone, so that with port 0 the others
   * bind the port it got, then announces the pool as every server does.
   * Rejects, with every worker terminated, if one fails to start, the signal
   * aborts, or `onListen` throws.
   */
  async start(): Promise<void> {
    try {
      this.#signal?.throwIfAborted();
      this.#addr = await abortable(
        this.#spawn(0).started.promise,
        this.#signal,
      );
      this.#port = this.#addr.port;
      const others = [];
      for (let slot = 1; slot < this.#size; slot++) {
        others.push(this.#spawn(slot).started.promise);
      }
      await abortable(Promise.all(others), this.#signal);
      this.#running = true;
      this.#lifecycle.listen(this.#addr, () => this.shutdown());
    } catch (error) {
      // Workers that listen already stop as at any shutdown, so that their
      // port is closed when the caller sees the error.
      await this.shutdown();
      throw error;
    }
  }

  #spawn(slot: number): Member {
    const worker = new Worker(WORKER_ENTRY, {
      type: "module",
      name: `@sockets/net worker ${slot + 1}`,
    });
    const member: Member = {
      slot,
      worker,
      listening: false,
      ended: false,
      started: Promise.withResolvers(),
      gone: Promise.withResolvers(),
      counters: undefined,
    };
    // Whoever waits for the start sees a failure; nobody else needs to.
    member.started.promise.catch(() => {});
    this.#members.add(member);
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) =>
      this.#receive(member, data);
    worker.onerror = (event) => {
      // Left alone, the event would end the whole process.
      event.preventDefault();
      this.#died(member, loadError(event));
    };
    const start: ToWorker = {
      type: "start",
      module: this.#module,
      hostname: this.#hostname,
      port: this.#port,
      ...this.#workerOptions,
    };
    worker.postMessage(start);
    return member;
  }

  #receive(member: Member, data: FromWorker): void {
    if (member.ended) return;
    switch (data.type) {
      case "listening":
        member.listening = true;
        member.started.resolve({
          transport: "tcp",
          hostname: data.hostname,
          port: data.port,
        });
        break;
      case "failed":
        this.#died(member, fromWire(data.error));
        break;
      case "error":
        this.#lifecycle.report(fromWire(data.error));
        break;
      case "counters":
        member.counters = data.counters;
        break;
      case "died": {
        member.counters = data.counters ?? member.counters;
        const cause = data.error === undefined
          ? undefined
          : fromWire(data.error);
        const reason = cause === undefined
          ? data.reason
          : `${data.reason}: ${cause.message}`;
        this.#died(member, new Error(reason, { cause }));
        break;
      }
      case "finished":
        member.counters = data.counters ?? member.counters;
        this.#end(member);
        break;
    }
  }

  /** Terminates the worker; a worker that had not started yet fails its start. */
  #end(member: Member, reason?: Error): void {
    if (member.ended) return;
    member.ended = true;
    member.worker.terminate();
    this.#members.delete(member);
    if (member.counters !== undefined) {
      addCounters(this.#endedCounters, { ...member.counters, active: 0 });
    }
    if (!member.listening) {
      member.started.reject(
        reason ?? new Error("serveWorkers: the pool stopped while starting"),
      );
    }
    member.gone.resolve();
  }

  /** A worker failed to start, or ended on its own: report it and replace it. */
  #died(member: Member, error: Error): void {
    if (member.ended) return;
    const { slot, listening } = member;
    this.#end(member, error);
    // A first start that fails is the caller's error, not a death to report.
    if (!this.#running && !listening) return;
    const what = listening ? "died" : "failed to start";
    if (this.#lifecycle.stopping.aborted) {
      this.#lifecycle.report(
        new Error(
          `worker ${slot + 1} ${what} during shutdown: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
      return;
    }
    const now = performance.now();
    this.#deaths.push(now);
    while (this.#deaths[0] <= now - RESTART_WINDOW_MS) this.#deaths.shift();
    if (this.#deaths.length >= RESTART_BURST) {
      this.#failure = new Error(
        `serveWorkers: ${this.#deaths.length} workers died within ${RESTART_WINDOW_MS} ms, so the pool stopped replacing them and shut down; the last one ${what}: ${error.message}`,
        { cause: error },
      );
      this.shutdown();
      return;
    }
    this.#lifecycle.report(
      new Error(
        `worker ${
          slot + 1
        } of ${this.#size} ${what}, starting a new one: ${error.message}`,
        { cause: error },
      ),
    );
    // A replacement that fails to start comes back here through #died.
    this.#spawn(slot);
  }

  #stop = async (): Promise<void> => {
    this.#lifecycle.beginStop();
    const members = [...this.#members];
    const shutdown: ToWorker = { type: "shutdown" };
    for (const member of members) member.worker.postMessage(shutdown);
    // A worker whose event loop is blocked never answers: terminate it.
    await this.#lifecycle.drain(
      Promise.all(members.map((member) => member.gone.promise)).then(() => {}),
      () => {
        for (const member of members) this.#end(member);
      },
    );
    if (this.#failure === undefined) {
      this.#finished.resolve();
    } else {
      this.#finished.reject(this.#failure);
    }
  };
}

function assertModule(module: unknown): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string") {
    throw new TypeError(
      `module must be a URL such as new URL("./handler.ts", import.meta.url), got ${
        show(module)
      }`,
    );
  }
  if (!URL.canParse(module)) {
    throw new TypeError(
      `module must be an absolute URL such as new URL("./handler.ts", import.meta.url), got ${
        show(module)
      }: a relative path would be resolved against this package, not your code`,
    );
  }
  return module;
}

function assertWorkers(workers: unknown): number {
  if (workers === undefined) return navigator.hardwareConcurrency;
  if (typeof workers !== "number") {
    throw new TypeError(
      `options.workers must be a number of workers, got ${show(workers)}`,
    );
  }
  if (!(Number.isInteger(workers) && workers >= 1)) {
    throw new RangeError(
      `options.workers must be a whole number of workers, 1 or more, got ${workers}; leave it out for one per CPU core (${navigator.hardwareConcurrency} here)`,
    );
  }
  return workers;
}

/**
 * Serves TCP connections with a pool of Web Workers, each listening on the
 * same port with `reusePort`: the prefork server, where the kernel balances
 * connections across workers and so across CPU cores.
 *
 * Every worker imports `module` and serves each connection with its default
 * export, a function `(conn: Deno.TcpConn) => unknown` run by the engine of
 * `server.ts`. The promise resolves once every worker listens. A worker
 * that dies is reported to `onError` and replaced; if 5 workers die within
 * 10 s, the pool shuts down and `finished` rejects.
 *
 * Besides `--allow-net`, workers need `--unstable-net` and read access to
 * every local module they load: see the module documentation.
 *
 * @param module The absolute URL of the handler module, usually
 * `new URL("./handler.ts", import.meta.url)`.
 * @param options Where to listen, how many workers, and the server options
 * that each worker applies.
 * @returns The running pool; `pool.addr.port` is the port it listens on.
 * @throws {TypeError} If `module` is not an absolute URL, an option has the
 * wrong type or an unknown name, or the module's default export is not a
 * function.
 * @throws {RangeError} If `workers` is not a positive integer, or the port is
 * invalid or an unknown service.
 * @throws {Deno.errors.NotSupported} On a system other than Linux, or
 * without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} Without a permission the workers need; the
 * message names the flag.
 * @throws {Deno.errors.AddrInUse} If the port is taken by a listener without
 * `reusePort`.
 * @throws Whatever the module throws as it loads, and whatever `onListen` or
 * the signal's abort throws.
 *
 * @example An echo server on every core
 * ```ts ignore
 * import { serveWorkers } from "@sockets/net/workers";
 *
 * // echo.ts: export default (conn) => copy(conn, conn);
 * const pool = await serveWorkers(new URL("./echo.ts", import.meta.url), {
 *   port: 7007,
 * });
 * console.log(`${pool.workers} workers on port ${pool.addr.port}`);
 * await pool.finished;
 * ```
 *
 * @example Report deaths and stop with a signal
 * ```ts
 * import { serveWorkers } from "@sockets/net/workers";
 *
 * const controller = new AbortController();
 * const pool = await serveWorkers(
 *   "data:text/javascript,export default () => {}",
 *   {
 *     hostname: "127.0.0.1",
 *     workers: 2,
 *     signal: controller.signal,
 *     onError: (error) => console.error(error),
 *   },
 * );
 * controller.abort();
 * await pool.finished;
 * ```
 */
export async function serveWorkers(
  module: URL | string,
  options: ServeWorkersOptions = {},
): Promise<WorkerPool> {
  const href = assertModule(module);
  assertServerOptions(options, "(error) => void");
  assertKnownOptions(options, SERVE_WORKERS_OPTION_NAMES);
  // Checked here, not in each worker, so that a mistake fails the call.
  proxyGate(options.proxy);
  const {
    hostname: rawHostname = DEFAULT_LISTEN_HOSTNAME,
    port: rawPort = 0,
    defaultPort,
    workers: rawWorkers,
  } = options;
  const hostname = assertHostname(rawHostname, "options.hostname");
  const port = resolvePort(rawPort, { defaultPort, protocol: "tcp" });
  const workers = assertWorkers(rawWorkers);
  assertStreamLimits(options);
  if (Deno.build.os !== "linux") {
    throw new Deno.errors.NotSupported(
      `serveWorkers needs SO_REUSEPORT to share a port between workers, which Deno offers on Linux only, not on ${Deno.build.os}; serve with serveTcp() in one process instead`,
    );
  }
  requireUnstableNet(
    `serveWorkers on ${joinHostPort(hostname, port)}: reusePort`,
  );
  const pool = new Pool(href, hostname, port, workers, options);
  await pool.start();
  return pool;
}
