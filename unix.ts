/**
 * Unix-domain sockets: stream servers and clients ({@linkcode serveUnix},
 * {@linkcode connectUnix}), datagram sockets ({@linkcode listenUnixDatagram},
 * {@linkcode connectUnixDatagram}) and datagram servers
 * ({@linkcode serveUnixDatagram}), with the socket file handled safely.
 * The datagram sockets have the shapes of the UDP ones: `receive()` gives
 * `{ data, from }`, `send(data, to)` the bytes sent, and
 * {@linkcode UnixDatagramSocket} pairs with `UdpSocket`,
 * {@linkcode ConnectedUnixDatagramSocket} with `ConnectedUdpSocket`.
 *
 * **Abstract names** (Linux): a path that starts with NUL (`"\0app"`) names
 * a socket in the abstract namespace, which has no file: none of the rules
 * below apply (no stale check, no mode, nothing to remove), the name is
 * freed when the socket closes, and any process in the network namespace
 * can connect. Deno checks it against a bare `--allow-net` (a `unix:` grant
 * cannot express the NUL); errors and `formatAddress` show it as `@app`, as
 * `ss` and `socat` do.
 *
 * The functions that touch the file system are async: {@linkcode serveUnix},
 * {@linkcode serveUnixDatagram}, {@linkcode listenUnixDatagram} and
 * {@linkcode connectUnixDatagram} probe and remove stale socket files and
 * make private directories; {@linkcode connectUnix} is async as every
 * connect is.
 *
 * The socket file is where Unix servers usually go wrong, so every function
 * here follows the same rules:
 *
 * - **Before bind**, a socket file at the path is probed with a connect. If no
 *   server answers, the file is stale (left by a crashed server) and is
 *   removed; if one answers, the bind fails with a clear "in use" error.
 *   Anything that is not a socket (a regular file, a directory, a link) is
 *   never removed: the bind fails instead.
 * - **A missing directory** fails with an error that names it and says to
 *   create it (`mkdir -p DIR`): nothing here creates directories.
 * - **`mode`**: a server's socket `DIR/NAME` is bound inside a
 *   private directory `DIR/.NAME` (mode 0700), given its mode there, then
 *   hard-linked into place, and the private directory removed. Nobody can
 *   connect while the socket still has the mode the umask gave it, and
 *   `link(2)`, unlike `rename(2)`, fails rather than replace a file that
 *   appeared at the path meanwhile.
 * - **On close**, the file is removed only if it is still the one this
 *   process created (same device and inode): a newer server's socket at the
 *   same path survives. Datagram sockets get the same care; Deno itself
 *   leaves their files behind.
 * - **Paths** longer than the 107 bytes of `sun_path` fail with a clear error
 *   before any system call.
 *
 * Permissions: Deno 2.9 asks for `--allow-read`, `--allow-write` and
 * `--allow-net=unix:PATH` on a socket path, the last for exact, absolute
 * paths only (a relative path is granted as resolved against the working
 * directory: `--allow-net=unix:$PWD/app.sock`).
 * A client and a datagram socket need the three on the socket path; a
 * stream server also on its private directory and bind path, for
 * `/run/app.sock`:
 * `--allow-read=/run/app.sock,/run/.app.sock --allow-write=/run/app.sock,/run/.app.sock --allow-net=unix:/run/app.sock,unix:/run/.app.sock/s`.
 * Denied permissions fail with the exact flags to add. Datagram sockets also
 * need `--unstable-net`. The private grant `unix:DIR/.NAME/s` is needed
 * because the socket is first bound in the private 0700 directory and then
 * linked into place, so that it is never reachable with a wider mode.
 *
 * Why stream servers always bind in a private directory, with or without
 * `mode`: closing a Deno 2.9 Unix listener unlinks the path it was bound to,
 * whatever file is there by then, which would delete a newer server's
 * socket. Bound to a private name, the listener's own unlink hits that
 * (already removed) name, and the same-inode rule decides about the path.
 *
 * @example Echo over a Unix socket
 * ```ts
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/echo.sock`;
 * await using _server = await serveUnix({ path }, async (conn) => {
 *   await conn.readable.pipeTo(conn.writable);
 * });
 *
 * using conn = await connectUnix(path);
 * await conn.write(new TextEncoder().encode("ping"));
 * const reply = new Uint8Array(4);
 * await conn.read(reply);
 * assertEquals(new TextDecoder().decode(reply), "ping");
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import { abortable, deadline, delay, untilClosed } from "./_async.ts";
import { annotate } from "./_errors.ts";
import { SERVE_OPTION_NAMES } from "./_lifecycle.ts";
import { assertRulesApply, ruleGate } from "./_rules.ts";
import {
  assertMode,
  assertPathOptions,
  assertPrivatePathFits,
  assertSocketPath,
  bindPrivately,
  clearStaleSocket,
  type FileIdentity,
  privateBindPermissions,
  removeIfSame,
  requirePermissions,
} from "./_socket_file.ts";
import {
  assertBoolean,
  assertFunction,
  assertKnownOptions,
  assertOptions,
  assertSignal,
  assertTimeout,
} from "./_validate.ts";
import {
  type ConnectionHandler,
  serve,
  type ServeOptions,
  type Server,
} from "./server.ts";

export * from "./unix_datagram.ts";
export * from "./serve_unix_datagram.ts";
export type {
  DatagramContext,
  DatagramHandler,
  DatagramReply,
  DatagramServer,
  DatagramServerCounters,
  ServeDatagramsOptions,
} from "./datagram_server.ts";
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
 * Options of {@linkcode serveUnix}: the socket file, and every option of the stream-server engine.
 *
 * @example An owner-only socket that replaces a crashed server's file
 * ```ts
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnix(
 *   { path: `${dir}/app.sock`, mode: 0o600, removeStale: true, idleTimeout: 30_000 },
 *   (conn) => conn.write(new TextEncoder().encode("ok\n")),
 * );
 * using conn = await connectUnix(server.addr.path);
 * assertEquals(await new Response(conn.readable).text(), "ok\n");
 * ```
 */
export interface ServeUnixOptions extends ServeOptions {
  /**
   * Path of the socket file, at most 107 bytes (`sun_path`), or a Linux
   * abstract name (`"\0name"`: no file, needs a bare `--allow-net`).
   */
  path: string;
  /**
   * Permission bits of the socket file, such as `0o600` (owner only) or
   * `0o660` (owner and group). Connecting needs write permission on the
   * file. The file never exists with a wider mode, not even briefly.
   *
   * @default {0o777 minus the process umask}
   */
  mode?: number;
  /**
   * Remove a stale socket file (one that no server answers, as a crashed
   * server leaves) before binding. When `false`, a stale file is an error.
   * A live server's socket, and anything that is not a socket, are never
   * removed.
   *
   * @default {true}
   */
  removeStale?: boolean;
}

/**
 * Options of {@linkcode connectUnix}.
 *
 * @example Give up after five seconds, or when the caller aborts
 * ```ts
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnix({ path: `${dir}/s.sock` }, (conn) =>
 *   conn.write(new TextEncoder().encode("hi")));
 * using conn = await connectUnix(server.addr.path, {
 *   timeout: 5_000,
 *   signal: AbortSignal.timeout(10_000),
 * });
 * assertEquals(await new Response(conn.readable).text(), "hi");
 * ```
 */
export interface ConnectUnixOptions {
  /**
   * Milliseconds for the whole call; then it fails with
   * `Deno.errors.TimedOut`. A Unix connect waits only while the server's
   * backlog is full (it accepts too slowly), as a blocking `connect(2)`
   * does; `Infinity` waits without limit. More than 0: leave it out for
   * no limit.
   *
   * @default {undefined} (no limit)
   */
  timeout?: number;
  /**
   * Aborts the call at any point: the promise rejects with the signal's
   * reason, and a connection made meanwhile is closed.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** The options of {@linkcode serveUnix} that are not the engine's. */
const OWN_OPTION_NAMES = ["path", "mode", "removeStale"];

/** The option names of {@linkcode connectUnix}. */
const CONNECT_UNIX_OPTION_NAMES = ["timeout", "signal"];

/**
 * A blocking `connect(2)` to a Unix socket whose backlog is full waits in the
 * kernel for room; Deno's connect is non-blocking and fails at once with
 * EAGAIN (`WouldBlock`), so the wait is done here: retries 5 ms apart at
 * first, doubling to at most this, as the stream servers' accept backoff.
 */
const CONNECT_RETRY_MAX_MS = 100;

/** The first pause before a connect is retried on a full backlog. */
const CONNECT_RETRY_MIN_MS = 5;

/**
 * The listener the engine serves from: it reports the final path as its
 * address (the kernel knows the socket by its private bind name), and on
 * close removes the socket file if it is still the one it created.
 */
class SocketFileListener
  implements Deno.Listener<Deno.UnixConn, Deno.UnixAddr> {
  readonly #listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  readonly #identity: FileIdentity;
  readonly #addrDescriptor: PropertyDescriptor;
  readonly addr: Deno.UnixAddr;
  #closed = false;

  constructor(
    listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>,
    path: string,
    identity: FileIdentity,
  ) {
    this.#listener = listener;
    this.#identity = identity;
    this.addr = { transport: "unix", path };
    this.#addrDescriptor = { value: this.addr };
  }

  async accept(): Promise<Deno.UnixConn> {
    const conn = await this.#listener.accept();
    Object.defineProperty(conn, "localAddr", this.#addrDescriptor);
    return conn;
  }

  close(): void {
    if (!this.#closed) {
      this.#closed = true;
      // Unlink first, as Go does: a client arriving now finds no file rather
      // than a socket about to close.
      removeIfSame(this.addr.path, this.#identity);
    }
    this.#listener.close();
  }

  ref(): void {
    this.#listener.ref();
  }

  unref(): void {
    this.#listener.unref();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Deno.UnixConn> {
    return untilClosed(() => this.accept());
  }

  [Symbol.dispose](): void {
    try {
      this.close();
    } catch {
      // Disposing twice is fine.
    }
  }
}

/**
 * Serves connections on a Unix stream socket, on the module's stream-server
 * engine (see `serve` in `@sockets/net/server`): every engine option works.
 *
 * A stale socket file at the path is removed first; a live server's socket,
 * or a file that is not a socket, makes it fail instead. The socket is bound
 * in a private directory next to the path, given its `mode`, and linked into
 * place; when the server stops, the file is removed if it is still the one
 * it created.
 *
 * For a socket `DIR/NAME`, needs `--allow-read` and `--allow-write` on
 * `DIR/NAME` and `DIR/.NAME` (or on `DIR`), and
 * `--allow-net=unix:DIR/NAME,unix:DIR/.NAME/s`; a denial names the flags.
 *
 * @param options The socket path, its mode, and the engine's options.
 * @param handler Called with each connection; the connection is closed when it settles.
 * @returns The running server; `server.addr.path` is the socket path.
 * @throws {TypeError} If an argument or option has the wrong type.
 * @throws {RangeError} If the path is empty, or too long for `sun_path`
 * (107 bytes) once the private directory is added (at most 104 bytes), or a
 * number option is out of range.
 * @throws {Deno.errors.NotCapable} If a permission is missing; the message
 * names the flags.
 * @throws {Deno.errors.AddrInUse} If a live server owns the path, or a stale
 * socket is there and `removeStale` is `false`.
 * @throws {Deno.errors.AlreadyExists} If the path is a file that is not a socket.
 *
 * @example Owner-only socket with a connection limit
 * ```ts
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const greeting = new TextEncoder().encode("hello\n");
 * await using server = await serveUnix(
 *   { path: `${dir}/app.sock`, mode: 0o600, maxConnections: 16 },
 *   (conn) => conn.write(greeting),
 * );
 * assertEquals((await Deno.stat(server.addr.path)).mode! & 0o777, 0o600);
 *
 * using conn = await connectUnix(server.addr.path);
 * assertEquals(await new Response(conn.readable).text(), "hello\n");
 * ```
 */
export async function serveUnix(
  options: ServeUnixOptions,
  handler: ConnectionHandler<Deno.UnixConn>,
): Promise<Server<Deno.UnixAddr>> {
  assertPathOptions(options, "options");
  assertKnownOptions(options, [...SERVE_OPTION_NAMES, ...OWN_OPTION_NAMES]);
  const { path, mode, removeStale = true, ...serveOptions } = options;
  assertSocketPath(path, "options.path");
  assertMode(mode, path);
  assertBoolean(removeStale, "options.removeStale");
  assertFunction(handler, "handler", "(conn) => void | Promise<void>");
  assertSignal(serveOptions.signal, "options.signal");
  assertPrivatePathFits(path, "a server");
  assertRulesApply(
    ruleGate(serveOptions),
    { transport: "unix", path },
    serveOptions.proxy !== undefined,
  );
  const context = { op: "listen", network: "unix" as const };
  requirePermissions(
    { ...context, address: path },
    privateBindPermissions(path),
  );
  await clearStaleSocket(path, removeStale, context);
  const { socket: listener, identity } = await bindPrivately(
    path,
    mode,
    removeStale,
    context,
    (privatePath) => Deno.listen({ transport: "unix", path: privatePath }),
  );
  const placed = new SocketFileListener(listener, path, identity);
  try {
    return serve(placed, handler, serveOptions);
  } catch (error) {
    // serve() may have closed it already (when onListen throws): dispose
    // tolerates that where close() would replace the error with BadResource.
    placed[Symbol.dispose]();
    throw error;
  }
}

/**
 * Connects to a Unix stream socket.
 *
 * Needs `--allow-read`, `--allow-write` and `--allow-net=unix:PATH` on the
 * socket path.
 *
 * @param path Path of the server's socket file, at most 107 bytes, or an
 * abstract name (`"\0name"`, Linux; needs a bare `--allow-net`).
 * @param options A timeout and an abort signal.
 * @returns The connection; its `remoteAddr.path` is `path`.
 * @throws {TypeError} If an argument or option has the wrong type.
 * @throws {RangeError} If the path is empty or longer than 107 bytes.
 * @throws {Deno.errors.NotCapable} If permission on the path is missing; the
 * message names the flags.
 * @throws {Deno.errors.NotFound} If there is no file at the path.
 * @throws {Deno.errors.ConnectionRefused} If no server is bound to the file.
 * @throws {Deno.errors.TimedOut} If `timeout` passes first (the server's
 * backlog stayed full).
 *
 * @example Ask a server for a line
 * ```ts
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnix({ path: `${dir}/time.sock` }, (conn) =>
 *   conn.write(new TextEncoder().encode("12:00\n")));
 *
 * using conn = await connectUnix(server.addr.path, { timeout: 5000 });
 * assertEquals(await new Response(conn.readable).text(), "12:00\n");
 * ```
 */
export async function connectUnix(
  path: string,
  options: ConnectUnixOptions = {},
): Promise<Deno.UnixConn> {
  assertSocketPath(path, "path");
  assertOptions(options);
  assertKnownOptions(options, CONNECT_UNIX_OPTION_NAMES);
  const { timeout, signal } = options;
  assertTimeout(timeout, "options.timeout");
  assertSignal(signal, "options.signal");
  signal?.throwIfAborted();
  requirePermissions({ op: "connect", network: "unix", address: path }, [
    { name: "read", path },
    { name: "write", path },
    { name: "net", path },
  ]);
  using limit = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `connect unix ${path}: no connection within ${timeout} ms: the server's backlog stayed full (it accepts too slowly); try again later, or raise options.timeout`,
      ),
  );
  const conn = await connectWaiting(path, limit.signal);
  // The kernel names the server by the path it bound, which for our servers
  // is a private name already removed; the caller knows it by `path`.
  Object.defineProperty(conn, "remoteAddr", {
    value: { transport: "unix", path },
  });
  return conn;
}

/**
 * Connects, waiting for room while the server's backlog is full, until
 * `signal` (the call's deadline) aborts; a connection that arrives late is
 * closed.
 */
async function connectWaiting(
  path: string,
  signal: AbortSignal,
): Promise<Deno.UnixConn> {
  let pause = CONNECT_RETRY_MIN_MS;
  while (true) {
    try {
      return await abortable(
        Deno.connect({ transport: "unix", path }),
        signal,
        (late) => late.close(),
      );
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (!(error instanceof Deno.errors.WouldBlock)) {
        throw annotate(error, {
          op: "connect",
          network: "unix",
          address: path,
        });
      }
    }
    await delay(pause, signal);
    signal.throwIfAborted();
    pause = Math.min(pause * 2, CONNECT_RETRY_MAX_MS);
  }
}
