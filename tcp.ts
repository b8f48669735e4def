/**
 * TCP servers and clients: {@linkcode serveTcp} binds, listens and serves
 * every connection with the stream-server engine of `server.ts`;
 * {@linkcode connectTcp} connects to a host by trying every one of its
 * addresses, racing them as RFC 8305 ("Happy Eyeballs") describes.
 *
 * Ports are numbers, numeric strings or service names (`"http"`), looked up
 * as `getservbyname()` does, with a `defaultPort` for a name that is not found.
 *
 * @example The classic hello server and its client
 * ```ts
 * import { connectTcp, serveTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, async (conn) => {
 *   await conn.write(new TextEncoder().encode("Hello World\n"));
 * });
 *
 * using conn = await connectTcp({ hostname: "127.0.0.1", port: server.addr.port });
 * const text = await new Response(conn.readable).text();
 * assertEquals(text, "Hello World\n");
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import {
  DEFAULT_CONNECT_HOSTNAME,
  DEFAULT_LISTEN_HOSTNAME,
  dialable,
  interleaveFamilies,
  IP_ADDRESS_OPTION_NAMES,
  joinHostPort,
} from "./_address.ts";
import { abortable, deadline, delay } from "./_async.ts";
import { annotate, requireUnstableNet } from "./_errors.ts";
import { SERVE_OPTION_NAMES } from "./_lifecycle.ts";
import {
  assertBoolean,
  assertFunction,
  assertHostname,
  assertKnownOptions,
  assertMilliseconds,
  assertRequiredOptions,
  assertSignal,
  assertTimeout,
  assertTransport,
  show,
} from "./_validate.ts";
import { lookupHost } from "./resolve.ts";
import {
  type ConnectionHandler,
  serve,
  type ServeOptions,
  type Server,
} from "./server.ts";
import { resolvePort } from "./services.ts";

export { loopbackPair } from "./loopback_pair.ts";
export type { LoopbackPairOptions } from "./loopback_pair.ts";

export type {
  AccessRules,
  ConnectionContext,
  ConnectionHandler,
  ProxyOptions,
  ServeOptions,
  Server,
  ServerCounters,
  ServerOptions,
} from "./server.ts";

/**
 * Options of {@linkcode serveTcp}: where to listen, plus every option of the engine.
 *
 * @example A loopback server that closes idle connections
 * ```ts
 * import { connectTcp, serveTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp(
 *   { hostname: "127.0.0.1", port: 0, idleTimeout: 30_000, keepAlive: true },
 *   (conn) => conn.write(new TextEncoder().encode("hi")),
 * );
 * using conn = await connectTcp(server.addr);
 * assertEquals(await new Response(conn.readable).text(), "hi");
 * ```
 */
export interface ServeTcpOptions extends ServeOptions {
  /**
   * The transport, as in a `Deno.NetAddr`, so that an address can be spread
   * into the options; anything but `"tcp"` is refused.
   *
   * @default {"tcp"}
   */
  transport?: Deno.NetAddr["transport"];
  /**
   * The address to listen on: an IP address of this machine, a host name, or
   * `0.0.0.0` / `::` for every address.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The port: a number, a numeric string or a service name such as `"http"`.
   * `0` lets the system pick a free port; `server.addr.port` tells which.
   *
   * @default {0}
   */
  port?: number | string;
  /**
   * The port to use when `port` is a service name that is not found, as the
   * classic `get_port(service, "tcp", default)` does.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
  /**
   * Sets `SO_REUSEPORT`, so that several listeners (in several processes or
   * workers) share the port and the kernel balances connections across them.
   * Linux only; needs `--unstable-net`.
   *
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * How many connections the kernel queues while the server is not accepting
   * (for instance at `maxConnections`): from 1 to 2147483647, the largest
   * `int` that `listen(2)` takes. Linux silently caps it at
   * `net.core.somaxconn` (4096 by default since Linux 5.4).
   *
   * @default {511}
   */
  backlog?: number;
  /**
   * Disables Nagle's algorithm on every connection so that small writes go
   * out at once, as Go does by default: request/response protocols need it.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Enables TCP keep-alive probes on every connection, so that a peer that
   * vanished without closing is noticed. Deno sets `SO_KEEPALIVE` only, so
   * the system's timing applies; on Linux the first probe goes out after 2
   * hours idle (`net.ipv4.tcp_keepalive_time`), then every 75 s
   * (`tcp_keepalive_intvl`), and the peer is declared gone after 9
   * unanswered probes (`tcp_keepalive_probes`): about 2 h 11 min. Tuning
   * these per socket is not available yet; use `idleTimeout` to close quiet
   * connections sooner.
   *
   * @default {false}
   */
  keepAlive?: boolean;
}

/**
 * A host name resolver: every address of `hostname`, preferred first.
 *
 * @example A fixed table instead of the system resolver
 * ```ts
 * import { connectTcp, type Resolver, serveTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * const hosts: Record<string, string[]> = { "app.internal": ["127.0.0.1"] };
 * const resolve: Resolver = (hostname) => Promise.resolve(hosts[hostname] ?? []);
 *
 * await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, () => {});
 * using conn = await connectTcp({
 *   hostname: "app.internal",
 *   port: server.addr.port,
 *   resolve,
 * });
 * assertEquals(conn.remoteAddr.hostname, "127.0.0.1");
 * ```
 */
export type Resolver = (
  hostname: string,
  options: { signal: AbortSignal },
) => Promise<string[]>;

/**
 * Options of {@linkcode connectTcp}.
 *
 * @example A service name, a default port and a deadline
 * ```ts
 * import { connectTcp, serveTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, () => {});
 * using conn = await connectTcp({
 *   hostname: "127.0.0.1",
 *   port: "no-such-service",
 *   defaultPort: server.addr.port,
 *   timeout: 5_000,
 *   attemptDelay: 250,
 * });
 * assertEquals(conn.remoteAddr.port, server.addr.port);
 * ```
 */
export interface ConnectTcpOptions {
  /**
   * The transport, as in a `Deno.NetAddr`, so that an address such as
   * `server.addr` can be passed as the options; anything but `"tcp"` is
   * refused.
   *
   * @default {"tcp"}
   */
  transport?: Deno.NetAddr["transport"];
  /**
   * The host to connect to: a name or an IP address. A wildcard address
   * (`0.0.0.0`, `::`) means this host, as in Go, so a server's own `addr`
   * can be dialled even when it listens on every address.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The port: a number, a numeric string or a service name such as `"http"`. */
  port: number | string;
  /**
   * The port to use when `port` is a service name that is not found.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
  /**
   * Milliseconds for the whole connect, lookup included; after it, the
   * promise rejects with `Deno.errors.TimedOut`. More than 0: leave it out
   * or pass `Infinity` for no limit.
   *
   * @default {undefined} (no limit but the system's)
   */
  timeout?: number;
  /**
   * Aborts the connect: the promise rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Milliseconds to wait for an attempt before starting the next address in
   * parallel (RFC 8305's "Connection Attempt Delay"); `Infinity` starts the
   * next address only when the previous attempt fails.
   *
   * @default {250}
   */
  attemptDelay?: number;
  /**
   * Disables Nagle's algorithm on the connection.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Enables TCP keep-alive probes on the connection. Deno sets
   * `SO_KEEPALIVE` only, so the system's timing applies; on Linux the first
   * probe goes out after 2 hours idle (`net.ipv4.tcp_keepalive_time`), then
   * every 75 s (`tcp_keepalive_intvl`), and the peer is declared gone after
   * 9 unanswered probes (`tcp_keepalive_probes`). Tuning these per socket is
   * not available yet.
   *
   * @default {false}
   */
  keepAlive?: boolean;
  /**
   * Resolves the host name to its addresses.
   *
   * @default {lookupHost}
   */
  resolve?: Resolver;
}

/**
 * The largest backlog: `listen(2)` takes an `int`. Deno passes the option on
 * as a 32-bit unsigned number, so without this check 2 ** 32 would become 0.
 */
const MAX_BACKLOG = 2 ** 31 - 1;

/** RFC 8305, section 5: the recommended "Connection Attempt Delay". */
const DEFAULT_ATTEMPT_DELAY_MS = 250;

/** The option names of {@linkcode serveTcp}: the engine's and its own. */
const SERVE_TCP_OPTION_NAMES: readonly string[] = [
  ...SERVE_OPTION_NAMES,
  ...IP_ADDRESS_OPTION_NAMES,
  "reusePort",
  "backlog",
  "noDelay",
  "keepAlive",
];

/** The option names of {@linkcode connectTcp}. */
const CONNECT_TCP_OPTION_NAMES: readonly string[] = [
  ...IP_ADDRESS_OPTION_NAMES,
  "timeout",
  "signal",
  "attemptDelay",
  "noDelay",
  "keepAlive",
  "resolve",
];

function tuneConnection(
  conn: Deno.TcpConn,
  noDelay: boolean,
  keepAlive: boolean,
): void {
  try {
    // Both are off on a new socket: only turning one on costs a system call.
    if (noDelay) conn.setNoDelay(true);
    if (keepAlive) conn.setKeepAlive(true);
  } catch {
    // The peer already reset the connection: its first read or write says so.
  }
}

/**
 * Listens on a TCP address and serves every connection with `handler`, as
 * {@linkcode serve} does: concurrently, or one at a time with
 * `maxConnections: 1`. The connection is closed when the handler settles.
 *
 * @param options Where to listen, and the options of the engine.
 * @param handler Serves one connection.
 * @returns The running server; `server.addr.port` is the port it listens on.
 * @throws {TypeError} If an option or the handler has the wrong type, or an
 * option name is unknown.
 * @throws {RangeError} If the port is invalid or an unknown service, or the
 * hostname is empty.
 * @throws {Deno.errors.NotSupported} If `reusePort` is set without
 * `--unstable-net`.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag, such as `--allow-net=0.0.0.0:5432`.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {Deno.errors.PermissionDenied} If the port is below 1024 and the
 * process has neither root nor `CAP_NET_BIND_SERVICE`.
 *
 * @example An echo server on a service port with a default
 * ```ts
 * import { serveTcp } from "@sockets/net/tcp";
 * import { copy } from "@sockets/net/io";
 *
 * await using server = serveTcp(
 *   { hostname: "127.0.0.1", port: "echo-test", defaultPort: 0 },
 *   (conn) => copy(conn, conn),
 * );
 * console.log(`echo server on port ${server.addr.port}`);
 * ```
 */
export function serveTcp(
  options: ServeTcpOptions,
  handler: ConnectionHandler<Deno.TcpConn>,
): Server<Deno.NetAddr> {
  assertRequiredOptions(options, "{ port: 8080 }");
  assertKnownOptions(options, SERVE_TCP_OPTION_NAMES);
  const {
    transport,
    hostname: rawHostname = DEFAULT_LISTEN_HOSTNAME,
    port: rawPort = 0,
    defaultPort,
    reusePort = false,
    backlog,
    noDelay = true,
    keepAlive = false,
    ...serveOptions
  } = options;
  assertTransport(transport, "tcp");
  const hostname = assertHostname(rawHostname, "options.hostname");
  const port = resolvePort(rawPort, { defaultPort, protocol: "tcp" });
  assertBoolean(reusePort, "options.reusePort");
  assertBoolean(noDelay, "options.noDelay");
  assertBoolean(keepAlive, "options.keepAlive");
  if (
    backlog !== undefined &&
    !(Number.isInteger(backlog) && backlog >= 1 && backlog <= MAX_BACKLOG)
  ) {
    throw new RangeError(
      `options.backlog must be a positive integer, at most ${MAX_BACKLOG} (listen(2) takes an int), got ${
        show(backlog)
      }; Linux caps it at net.core.somaxconn (see sysctl net.core.somaxconn), so a larger value gains nothing`,
    );
  }
  assertFunction(handler, "handler", "(conn) => void | Promise<void>");
  if (reusePort) {
    requireUnstableNet(
      `listen tcp ${joinHostPort(hostname, port)}: options.reusePort`,
    );
  }

  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({
      hostname,
      port,
      transport: "tcp",
      ...(reusePort ? { reusePort } : {}),
      ...(backlog === undefined ? {} : { tcpBacklog: backlog }),
    });
  } catch (error) {
    throw annotate(error, {
      op: "listen",
      network: "tcp",
      address: joinHostPort(hostname, port),
      port,
    });
  }
  try {
    return serve(listener, (conn, context) => {
      tuneConnection(conn, noDelay, keepAlive);
      return handler(conn, context);
    }, serveOptions);
  } catch (error) {
    // serve() may have closed it already (when onListen throws): dispose
    // tolerates that where close() would replace the error with BadResource.
    listener[Symbol.dispose]();
    throw error;
  }
}

/** One address tried by {@linkcode connectTcp}, and how it failed. */
interface Attempt {
  address: string;
  error: unknown;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Starts a connect to each address in turn, the next one when the previous
 * fails or after `attemptDelay` (never, for `Infinity`: only a failure starts
 * the next), and keeps the first that succeeds. Resolves only once every
 * other attempt has settled and its connection is closed.
 */
async function race(
  addresses: string[],
  port: number,
  attemptDelay: number,
  signal: AbortSignal,
): Promise<Deno.TcpConn | Attempt[]> {
  const failures: Attempt[] = [];
  const attempts: Promise<void>[] = [];
  const losers = new AbortController();
  const cancel = AbortSignal.any([signal, losers.signal]);
  let winner: Deno.TcpConn | undefined;
  let next = 0;
  /** Aborted when an attempt settles or the connect is cancelled: ends the wait of this turn. */
  let turn = new AbortController();
  const wakeUp = () => turn.abort();

  const start = (address: string): Promise<void> =>
    Deno.connect({ hostname: address, port, transport: "tcp", signal: cancel })
      .then((conn) => {
        if (winner === undefined && !cancel.aborted) {
          winner = conn;
          losers.abort();
        } else {
          conn.close();
        }
      }, (error) => {
        failures.push({ address, error });
      })
      .finally(() => wakeUp());

  const onAbort = () => wakeUp();
  cancel.addEventListener("abort", onAbort);
  try {
    while (winner === undefined && !cancel.aborted) {
      const settled = failures.length;
      const running = attempts.length - settled;
      if (next < addresses.length) {
        attempts.push(start(addresses[next++]));
      } else if (running === 0) {
        break;
      }
      turn = new AbortController();
      if (next < addresses.length && attemptDelay !== Infinity) {
        await delay(attemptDelay, turn.signal);
      } else {
        // Nothing to start on a timer: wait for an attempt to settle.
        await abortable(new Promise<void>(() => {}), turn.signal)
          .catch(() => {});
      }
      // An attempt that failed since the last turn lets the next one start
      // without waiting for the delay, as RFC 8305 section 5 asks.
    }
  } finally {
    cancel.removeEventListener("abort", onAbort);
    losers.abort();
    await Promise.allSettled(attempts);
  }
  if (winner !== undefined) return winner;
  if (signal.aborted) throw signal.reason;
  return failures;
}

/**
 * Connects to a TCP server, trying every address of the host: the addresses
 * come in the system resolver's order (`getaddrinfo()`, through
 * {@linkcode lookupHost}), the two families interleaved, and the attempts
 * race as RFC 8305 describes: the next address starts when the previous one
 * fails or has not answered within `attemptDelay`, and the first connection
 * wins while the others are cancelled and closed.
 *
 * `Deno.connect` tries only the first address of a name (or, with
 * `autoSelectFamily`, without an overall deadline or a report of each
 * address); this function adds both and takes an injectable resolver.
 *
 * @param options The host, the port, and the limits.
 * @returns The connection, with `noDelay` and `keepAlive` applied.
 * @throws {TypeError} If an option has the wrong type or an unknown name.
 * @throws {RangeError} If the port is invalid or the hostname empty.
 * @throws {Deno.errors.TimedOut} If no address answers within `timeout`.
 * @throws {AggregateError} If every address of a host with several fails;
 * `errors` holds one error per address, its message naming the address.
 * @throws {Deno.errors.ConnectionRefused} (or another `Deno.errors` class)
 * If the one address of the host fails; without net permission the message
 * names the flag, such as `--allow-net=127.0.0.1:5432`.
 *
 * @example Connect with a deadline
 * ```ts
 * import { connectTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await connectTcp({
 *   hostname: "localhost",
 *   port: listener.addr.port,
 *   timeout: 5_000,
 * });
 * assertEquals(conn.remoteAddr.port, listener.addr.port);
 * (await listener.accept()).close();
 * ```
 */
export async function connectTcp(
  options: ConnectTcpOptions,
): Promise<Deno.TcpConn> {
  assertRequiredOptions(
    options,
    '{ hostname: "example.com", port: 80 }',
  );
  assertKnownOptions(options, CONNECT_TCP_OPTION_NAMES);
  const {
    transport,
    hostname: rawHostname = DEFAULT_CONNECT_HOSTNAME,
    port: rawPort,
    defaultPort,
    timeout,
    signal,
    attemptDelay = DEFAULT_ATTEMPT_DELAY_MS,
    noDelay = true,
    keepAlive = false,
    resolve = lookupHost,
  } = options;
  assertTransport(transport, "tcp");
  const hostname = dialable(assertHostname(rawHostname, "options.hostname"));
  if (rawPort === undefined) {
    throw new TypeError(
      'options.port is required: a number, a numeric string or a service name such as "http"',
    );
  }
  const port = resolvePort(rawPort, { defaultPort, protocol: "tcp" });
  assertTimeout(timeout, "options.timeout");
  assertMilliseconds(
    attemptDelay,
    "options.attemptDelay",
    "leave it out for the 250 ms of RFC 8305",
  );
  assertSignal(signal, "options.signal");
  assertBoolean(noDelay, "options.noDelay");
  assertBoolean(keepAlive, "options.keepAlive");
  assertFunction(
    resolve,
    "options.resolve",
    "(hostname, { signal }) => Promise<string[]>",
  );

  const target = joinHostPort(hostname, port);
  using call = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `connect tcp ${target}: no connection within ${timeout} ms; raise the timeout or check that the host is up`,
      ),
  );
  const cancel = call.signal;
  cancel.throwIfAborted();
  const addresses = await abortable(
    resolve(hostname, { signal: cancel }),
    cancel,
  );
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new Deno.errors.NotFound(
      `connect tcp ${target}: the resolver returned no address for ${
        show(hostname)
      }`,
    );
  }
  const result = await race(
    interleaveFamilies(addresses),
    port,
    attemptDelay,
    cancel,
  );
  if (!Array.isArray(result)) {
    tuneConnection(result, noDelay, keepAlive);
    return result;
  }
  const errors = result.map(({ address, error }) =>
    annotate(error, {
      op: "connect",
      network: "tcp",
      address: joinHostPort(address, port),
      port,
    })
  );
  if (errors.length === 1) throw errors[0];
  throw new AggregateError(
    errors,
    `connect tcp ${target}: every address failed: ${
      errors.map(describe).join("; ")
    }`,
  );
}
