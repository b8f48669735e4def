/**
 * Unix-domain sockets: stream servers and clients ({@linkcode serveUnix},
 * {@linkcode connectUnix}) and datagram sockets
 * ({@linkcode listenUnixDatagram}, {@linkcode connectUnixDatagram}), with
 * the socket file handled safely.
 *
 * The socket file is where Unix servers usually go wrong, so every function
 * here follows the same rules:
 *
 * - **Before bind**, a socket file at the path is probed with a connect. If no
 *   server answers, the file is stale (left by a crashed server) and is
 *   removed; if one answers, the bind fails with a clear "in use" error.
 *   Anything that is not a socket (a regular file, a directory, a link) is
 *   never removed: the bind fails instead.
 * - **`mode`**: a stream server's socket `DIR/NAME` is bound inside a
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
 * `--allow-net=unix:PATH` on a socket path, the last for exact paths only.
 * A client and a datagram socket need the three on the socket path; a
 * stream server also on its private directory and bind path, for
 * `/run/app.sock`:
 * `--allow-read=/run/app.sock,/run/.app.sock --allow-write=/run/app.sock,/run/.app.sock --allow-net=unix:/run/app.sock,unix:/run/.app.sock/s`.
 * Denied permissions fail with the exact flags to add. Datagram sockets also
 * need `--unstable-net`.
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

import { annotate, type Network } from "./_errors.ts";
import {
  assertSocketPath,
  clearStaleSocket,
  type FileIdentity,
  identityAt,
  listenPrivately,
  MAX_SOCKET_PATH_BYTES,
  privatePathsOf,
  removeIfSame,
  requirePermissions,
} from "./_socket_file.ts";
import {
  assertBoolean,
  assertFunction,
  assertMilliseconds,
  assertOptions,
  assertSignal,
  show,
} from "./_validate.ts";
import {
  type ConnectionHandler,
  serve,
  type ServeOptions,
  type Server,
} from "./server.ts";

/** Options of {@linkcode serveUnix}: the socket file, and every option of the stream-server engine. */
export interface ServeUnixOptions extends ServeOptions {
  /** Path of the socket file, at most 107 bytes (`sun_path`). */
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

/** Options of {@linkcode connectUnix}. */
export interface ConnectUnixOptions {
  /**
   * Milliseconds to wait for the connection (a Unix connect waits only when
   * the server's backlog is full); then it fails with `Deno.errors.TimedOut`.
   *
   * @default {undefined} (no limit)
   */
  timeout?: number;
  /**
   * Aborts the connect: the promise rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode listenUnixDatagram}. */
export interface ListenUnixDatagramOptions {
  /** Path of the socket file, at most 107 bytes (`sun_path`). */
  path: string;
  /**
   * Remove a stale socket file before binding, as
   * {@linkcode ServeUnixOptions.removeStale} does.
   *
   * @default {true}
   */
  removeStale?: boolean;
  /**
   * The largest datagram received whole, in bytes; the rest of a longer one
   * is discarded, as `recvfrom(2)` does with a short buffer.
   *
   * @default {65536}
   */
  maxDatagramSize?: number;
}

/** Options of {@linkcode connectUnixDatagram}. */
export interface ConnectUnixDatagramOptions {
  /**
   * The directory in which the client's private directory (mode 0700,
   * holding its own socket file) is created. It needs `--allow-read` and
   * `--allow-write`.
   *
   * @default {the system's temporary directory (`TMPDIR`, else /tmp)}
   */
  dir?: string;
  /**
   * The client's own socket path, bound instead of a fresh private one, as
   * the classic client binds a path of its choosing. A fixed path can be
   * granted exactly (`--allow-net=unix:PATH`); a stale socket file there is
   * removed first, as {@linkcode listenUnixDatagram} does, and the file is
   * removed on close. Cannot be combined with `dir`.
   *
   * @default {undefined}
   */
  localPath?: string;
  /**
   * The largest datagram received whole, in bytes, as
   * {@linkcode ListenUnixDatagramOptions.maxDatagramSize}.
   *
   * @default {65536}
   */
  maxDatagramSize?: number;
}

/** A received datagram and the path of its sender (`null` when the sender is not bound to a path). */
export type UnixDatagram = [data: Uint8Array, path: string | null];

/** Receive buffer size: 64 KiB covers the datagrams of most protocols; the option raises it. */
const DEFAULT_MAX_DATAGRAM_SIZE = 65_536;

/** The widest permission bits a socket file can have. */
const MAX_MODE = 0o777;

const encoder = new TextEncoder();

/** Deno's name for the SOCK_DGRAM Unix transport. */
const DATAGRAM = "unixpacket" as const;

function assertMode(mode: unknown): void {
  if (mode === undefined) return;
  if (typeof mode !== "number") {
    throw new TypeError(
      `options.mode must be a number of permission bits such as 0o600, got ${
        show(mode)
      }`,
    );
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > MAX_MODE) {
    throw new RangeError(
      `options.mode must be permission bits from 0o000 to 0o777 such as 0o600, got ${
        Number.isInteger(mode) ? `0o${mode.toString(8)}` : mode
      }`,
    );
  }
}

function assertDatagramSize(value: unknown, name: string): void {
  if (value === undefined) return;
  if (typeof value !== "number") {
    throw new TypeError(
      `${name} must be a number of bytes, got ${show(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `${name} must be a whole number of bytes, 1 or more, got ${value}`,
    );
  }
}

function assertRequiredOptions(options: unknown, name: string): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${name} must be an object with a path, such as { path: "/tmp/app.sock" }, got ${
        show(options)
      }`,
    );
  }
}

function assertUnstableNet(path: string, op: string): void {
  if (typeof Deno.listenDatagram !== "function") {
    throw new Deno.errors.NotSupported(
      `${op} ${DATAGRAM} ${path}: Unix datagram sockets need Deno's unstable net API; run again with --unstable-net`,
    );
  }
}

/** Rewrites a Unix socket error so that it says what failed, where, and the fix. */
function explain(
  error: unknown,
  op: string,
  network: Network,
  path: string,
): unknown {
  const prefix = `${op} ${network} ${path}`;
  if (error instanceof Deno.errors.NotFound) {
    return new Deno.errors.NotFound(
      `${prefix}: no socket file at this path; start the server first, or check the path`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new Deno.errors.ConnectionRefused(
      `${prefix}: connection refused; no server is bound to this socket file (a crashed server may have left it), or it is not a socket`,
      { cause: error },
    );
  }
  return annotate(error, { op, network, address: path });
}

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

  async *[Symbol.asyncIterator](): AsyncIterableIterator<Deno.UnixConn> {
    while (true) {
      try {
        yield await this.accept();
      } catch (error) {
        if (
          error instanceof Deno.errors.BadResource ||
          error instanceof Deno.errors.Interrupted
        ) return;
        throw error;
      }
    }
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
  assertRequiredOptions(options, "options");
  const { path, mode, removeStale = true, ...serveOptions } = options;
  assertSocketPath(path, "options.path");
  assertMode(mode);
  assertBoolean(removeStale, "options.removeStale");
  assertFunction(handler, "handler", "(conn) => void | Promise<void>");
  assertSignal(serveOptions.signal, "options.signal");

  const privatePaths = privatePathsOf(path);
  const privateBytes = encoder.encode(privatePaths.socket).length;
  if (privateBytes > MAX_SOCKET_PATH_BYTES) {
    throw new RangeError(
      `options.path is too long for a server: it binds at ${privatePaths.socket} first (${privateBytes} bytes), and a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes (sun_path); choose a path of at most ${
        MAX_SOCKET_PATH_BYTES - (privateBytes - encoder.encode(path).length)
      } bytes`,
    );
  }
  const context = { op: "listen", network: "unix" as const };
  requirePermissions({ ...context, address: path }, [
    { name: "read", path },
    { name: "read", path: privatePaths.dir },
    { name: "write", path },
    { name: "write", path: privatePaths.dir },
    { name: "net", path },
    { name: "net", path: privatePaths.socket },
  ]);
  await clearStaleSocket(path, removeStale, context);
  const { listener, identity } = await listenPrivately(
    path,
    mode,
    removeStale,
    context,
  );
  const placed = new SocketFileListener(listener, path, identity);
  try {
    return serve(placed, handler, serveOptions);
  } catch (error) {
    placed.close();
    throw error;
  }
}

/** `promise`, or a rejection when `timeout` passes or `signal` aborts; a late connection is closed. */
function withDeadline(
  connecting: Promise<Deno.UnixConn>,
  path: string,
  timeout: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Deno.UnixConn> {
  if (timeout === undefined && signal === undefined) return connecting;
  const { promise, resolve, reject } = Promise.withResolvers<Deno.UnixConn>();
  let settled = false;
  const giveUp = (reason: unknown) => {
    if (settled) return;
    settled = true;
    cleanup();
    connecting.then((conn) => conn.close(), () => {});
    reject(reason);
  };
  const onAbort = () => giveUp(signal!.reason);
  const timer = timeout === undefined ? undefined : setTimeout(
    () =>
      giveUp(
        new Deno.errors.TimedOut(
          `connect unix ${path}: no connection within ${timeout} ms; the server may be overloaded (its backlog is full)`,
        ),
      ),
    timeout,
  );
  const cleanup = () => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  connecting.then((conn) => {
    if (settled) return;
    settled = true;
    cleanup();
    resolve(conn);
  }, (error) => {
    if (settled) return;
    settled = true;
    cleanup();
    reject(error);
  });
  return promise;
}

/**
 * Connects to a Unix stream socket.
 *
 * Needs `--allow-read`, `--allow-write` and `--allow-net=unix:PATH` on the
 * socket path.
 *
 * @param path Path of the server's socket file, at most 107 bytes.
 * @param options A timeout and an abort signal.
 * @returns The connection; its `remoteAddr.path` is `path`.
 * @throws {TypeError} If an argument or option has the wrong type.
 * @throws {RangeError} If the path is empty or longer than 107 bytes.
 * @throws {Deno.errors.NotCapable} If permission on the path is missing; the
 * message names the flags.
 * @throws {Deno.errors.NotFound} If there is no file at the path.
 * @throws {Deno.errors.ConnectionRefused} If no server is bound to the file.
 * @throws {Deno.errors.TimedOut} If `timeout` passes first.
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
  const { timeout, signal } = options;
  assertMilliseconds(timeout, "options.timeout");
  assertSignal(signal, "options.signal");
  signal?.throwIfAborted();
  requirePermissions({ op: "connect", network: "unix", address: path }, [
    { name: "read", path },
    { name: "write", path },
    { name: "net", path },
  ]);
  let conn: Deno.UnixConn;
  try {
    conn = await withDeadline(
      Deno.connect({ transport: "unix", path }),
      path,
      timeout,
      signal,
    );
  } catch (error) {
    if (signal?.aborted && error === signal.reason) throw error;
    if (error instanceof Deno.errors.TimedOut) throw error;
    throw explain(error, "connect", "unix", path);
  }
  // The kernel names the server by the path it bound, which for our servers
  // is a private name already removed; the caller knows it by `path`.
  Object.defineProperty(conn, "remoteAddr", {
    value: { transport: "unix", path },
  });
  return conn;
}

/**
 * A bound Unix datagram socket: from {@linkcode listenUnixDatagram}.
 * Receives datagrams with their sender's path, sends to any path, and
 * removes its socket file on close if it is still the one it created.
 */
export class UnixDatagramSocket
  implements AsyncIterable<UnixDatagram>, AsyncDisposable {
  readonly #socket: Deno.DatagramConn;
  readonly #identity: FileIdentity;
  readonly #buffer: Uint8Array;
  readonly #onClose: (() => void) | undefined;
  #closed = false;

  /**
   * Wraps a bound socket; use {@linkcode listenUnixDatagram} rather than this constructor.
   *
   * @param socket The bound socket, owned from now on.
   * @param identity The socket file it created.
   * @param maxDatagramSize The receive buffer size.
   * @param onClose Called after close, for further cleanup.
   */
  constructor(
    socket: Deno.DatagramConn,
    identity: FileIdentity,
    maxDatagramSize: number,
    onClose?: () => void,
  ) {
    this.#socket = socket;
    this.#identity = identity;
    this.#buffer = new Uint8Array(maxDatagramSize);
    this.#onClose = onClose;
  }

  /** The socket's own address; `addr.path` is its socket file. */
  get addr(): Deno.UnixAddr {
    return this.#socket.addr as Deno.UnixAddr;
  }

  /**
   * Sends one datagram to the socket at `path`.
   *
   * @param data The datagram.
   * @param path The receiver's socket file; needs `--allow-write` on it.
   * @returns The number of bytes sent.
   */
  async send(data: Uint8Array, path: string): Promise<number> {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array, got ${show(data)}`);
    }
    assertSocketPath(path, "path");
    try {
      return await this.#socket.send(data, { transport: DATAGRAM, path });
    } catch (error) {
      throw explain(error, "send", DATAGRAM, path);
    }
  }

  /**
   * Waits for the next datagram.
   *
   * @returns The datagram (a copy, the caller's to keep) and the sender's
   * path, `null` for a sender not bound to a path.
   */
  async receive(): Promise<UnixDatagram> {
    const [data, from] = await this.#socket.receive(this.#buffer);
    return [data.slice(), (from as Deno.UnixAddr).path ?? null];
  }

  /** Iterates over the received datagrams until the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<UnixDatagram> {
    while (true) {
      try {
        yield await this.receive();
      } catch (error) {
        if (
          error instanceof Deno.errors.BadResource ||
          error instanceof Deno.errors.Interrupted
        ) return;
        throw error;
      }
    }
  }

  /** Closes the socket and removes its file if it is still the one this socket created. Closing twice is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    removeIfSame(this.addr.path, this.#identity);
    try {
      this.#socket.close();
    } finally {
      this.#onClose?.();
    }
  }

  /** Closes the socket, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Binds a datagram socket at `path`, which must be free (or stale, and cleared). */
function bindDatagram(path: string, op: string): {
  socket: Deno.DatagramConn;
  identity: FileIdentity;
} {
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({ transport: DATAGRAM, path });
  } catch (error) {
    throw annotate(error, { op, network: DATAGRAM, address: path });
  }
  try {
    return { socket, identity: identityAt(path) };
  } catch (error) {
    socket.close();
    throw annotate(error, { op, network: DATAGRAM, address: path });
  }
}

/**
 * Binds a Unix datagram socket (SOCK_DGRAM, Deno's `unixpacket` transport)
 * at a path: receive datagrams with their sender's path, and answer them.
 *
 * A stale socket file at the path is removed first; a live socket, or a file
 * that is not a socket, makes it fail. On close, the file is removed if it is
 * still the one this socket created (Deno itself leaves it behind).
 *
 * Needs `--unstable-net`, and `--allow-read`, `--allow-write` and
 * `--allow-net=unix:PATH` on the path.
 *
 * @param options The socket path and receive options.
 * @returns The bound socket.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If the path is empty or longer than 107 bytes.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} If permission on the path is missing; the
 * message names the flags.
 * @throws {Deno.errors.AddrInUse} If a live socket owns the path, or a stale
 * one is there and `removeStale` is `false`.
 * @throws {Deno.errors.AlreadyExists} If the path is a file that is not a socket.
 *
 * @example An uppercasing datagram server
 * ```ts
 * import { connectUnixDatagram, listenUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await listenUnixDatagram({ path: `${dir}/up.sock` });
 * await using client = await connectUnixDatagram(server.addr.path);
 *
 * await client.send(new TextEncoder().encode("hi"));
 * const [data, from] = await server.receive();
 * const upper = new TextDecoder().decode(data).toUpperCase();
 * await server.send(new TextEncoder().encode(upper), from!);
 * assertEquals(new TextDecoder().decode(await client.receive()), "HI");
 * ```
 */
export async function listenUnixDatagram(
  options: ListenUnixDatagramOptions,
): Promise<UnixDatagramSocket> {
  assertRequiredOptions(options, "options");
  const {
    path,
    removeStale = true,
    maxDatagramSize = DEFAULT_MAX_DATAGRAM_SIZE,
  } = options;
  assertSocketPath(path, "options.path");
  assertBoolean(removeStale, "options.removeStale");
  assertDatagramSize(maxDatagramSize, "options.maxDatagramSize");
  assertUnstableNet(path, "listen");
  const context = { op: "listen", network: DATAGRAM };
  requirePermissions({ ...context, address: path }, [
    { name: "read", path },
    { name: "write", path },
    { name: "net", path },
  ]);
  await clearStaleSocket(path, removeStale, context);
  const { socket, identity } = bindDatagram(path, "listen");
  return new UnixDatagramSocket(socket, identity, maxDatagramSize);
}

/**
 * A Unix datagram client pinned to one server: from
 * {@linkcode connectUnixDatagram}.
 */
export class UnixDatagramConn
  implements AsyncIterable<Uint8Array>, AsyncDisposable {
  readonly #socket: UnixDatagramSocket;
  readonly #peer: string;

  /**
   * Wraps a bound socket; use {@linkcode connectUnixDatagram} rather than this constructor.
   *
   * @param socket The client's own bound socket.
   * @param peer The server's socket path.
   */
  constructor(socket: UnixDatagramSocket, peer: string) {
    this.#socket = socket;
    this.#peer = peer;
  }

  /** The client's own address: `options.localPath`, or a path in its private directory. */
  get addr(): Deno.UnixAddr {
    return this.#socket.addr;
  }

  /** The server's address. */
  get remoteAddr(): Deno.UnixAddr {
    return { transport: DATAGRAM, path: this.#peer };
  }

  /**
   * Sends one datagram to the server.
   *
   * @param data The datagram.
   * @returns The number of bytes sent.
   */
  send(data: Uint8Array): Promise<number> {
    return this.#socket.send(data, this.#peer);
  }

  /**
   * Waits for the next datagram sent to this client.
   *
   * @returns The datagram.
   */
  async receive(): Promise<Uint8Array> {
    const [data] = await this.#socket.receive();
    return data;
  }

  /** Iterates over the received datagrams until the client is closed. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    for await (const [data] of this.#socket) yield data;
  }

  /** Closes the socket and removes its file and private directory. Closing twice is harmless. */
  close(): void {
    this.#socket.close();
  }

  /** Closes the client, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Deno 2.9 grants `--allow-net=unix:PATH` for exact paths only, and the
 * client's own path is random: its bind needs `--allow-net` for all.
 */
function requireClientNet(path: string, ownPath: string): void {
  const { state } = Deno.permissions.querySync({
    name: "net",
    host: `unix:${ownPath}`,
  });
  if (state !== "granted") {
    throw new Deno.errors.NotCapable(
      `connect ${DATAGRAM} ${path}: permission denied to bind the client's own socket at a fresh private path, which no --allow-net=unix:PATH can name in advance; run again with --allow-net`,
    );
  }
}

/** A datagram client bound at a path of the caller's choosing. */
async function bindClientAt(
  ownPath: string,
  path: string,
  maxDatagramSize: number,
): Promise<UnixDatagramConn> {
  const context = { op: "connect", network: DATAGRAM };
  requirePermissions({ ...context, address: path }, [
    { name: "write", path },
    { name: "net", path },
    { name: "read", path: ownPath },
    { name: "write", path: ownPath },
    { name: "net", path: ownPath },
  ]);
  await clearStaleSocket(ownPath, true, context);
  const { socket, identity } = bindDatagram(ownPath, "connect");
  return new UnixDatagramConn(
    new UnixDatagramSocket(socket, identity, maxDatagramSize),
    path,
  );
}

/** Creates the client's private directory: mode 0700, as `mkdtemp(3)`. */
async function makeClientDirectory(dir: string | undefined): Promise<string> {
  try {
    return await Deno.makeTempDir(dir === undefined ? {} : { dir });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable && dir === undefined) {
      throw new Deno.errors.NotCapable(
        `connect ${DATAGRAM}: permission denied for the client's private directory in the system temporary directory; run again with --allow-read and --allow-write for it (such as --allow-read=/tmp --allow-write=/tmp), or pass options.dir`,
        { cause: error },
      );
    }
    throw annotate(error, {
      op: "connect",
      network: DATAGRAM,
      address: dir ?? "temporary directory",
    });
  }
}

/**
 * Opens a Unix datagram client for the server at `path`. The client binds
 * its own socket in a fresh private directory (mode 0700), so that the
 * server can answer, and removes both on close. Only processes of the same
 * user (or root) can reach that private path, which is what keeps
 * strangers' datagrams out, as a connected UDP socket does with other peers.
 *
 * Needs `--unstable-net`; `--allow-read` and `--allow-write` on the
 * directory of the private directory (`options.dir`, by default the
 * system's temporary directory); and `--allow-net` without a list, because
 * Deno 2.9 grants Unix socket paths one by one and the client's own path is
 * new each time. With `options.localPath` instead, the client binds that
 * path and the three permissions can name it exactly.
 *
 * @param path The server's socket path, at most 107 bytes.
 * @param options Where to put the private directory, and receive options.
 * @returns The client.
 * @throws {TypeError} If an argument or option has the wrong type.
 * @throws {RangeError} If the path is empty or longer than 107 bytes.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} If a permission is missing; the message
 * names the flags.
 * @throws {Deno.errors.AddrInUse} If a live socket owns `options.localPath`.
 * @throws {Deno.errors.AlreadyExists} If `options.localPath` is a file that
 * is not a socket.
 *
 * @example Send a datagram and wait for the answer
 * ```ts
 * import { connectUnixDatagram, listenUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await listenUnixDatagram({ path: `${dir}/echo.sock` });
 * await using client = await connectUnixDatagram(server.addr.path);
 *
 * await client.send(new TextEncoder().encode("ping"));
 * const [data, from] = await server.receive();
 * await server.send(data, from!);
 * assertEquals(new TextDecoder().decode(await client.receive()), "ping");
 * ```
 */
export async function connectUnixDatagram(
  path: string,
  options: ConnectUnixDatagramOptions = {},
): Promise<UnixDatagramConn> {
  assertSocketPath(path, "path");
  assertOptions(options);
  const { dir, localPath, maxDatagramSize = DEFAULT_MAX_DATAGRAM_SIZE } =
    options;
  if (dir !== undefined && typeof dir !== "string") {
    throw new TypeError(
      `options.dir must be a directory path, got ${show(dir)}`,
    );
  }
  if (localPath !== undefined) {
    assertSocketPath(localPath, "options.localPath");
    if (dir !== undefined) {
      throw new TypeError(
        "options.dir and options.localPath both say where the client's socket goes; pass one of them",
      );
    }
  }
  assertDatagramSize(maxDatagramSize, "options.maxDatagramSize");
  assertUnstableNet(path, "connect");
  if (localPath !== undefined) {
    return await bindClientAt(localPath, path, maxDatagramSize);
  }
  requirePermissions({ op: "connect", network: DATAGRAM, address: path }, [
    { name: "write", path },
    { name: "net", path },
    ...(dir === undefined ? [] : [
      { name: "read" as const, path: dir },
      { name: "write" as const, path: dir },
    ]),
  ]);
  const privateDir = await makeClientDirectory(dir);
  const removeDir = () => {
    try {
      Deno.removeSync(privateDir);
    } catch {
      // Best effort, as close must not fail.
    }
  };
  try {
    const ownPath = `${privateDir}/c`;
    assertSocketPath(ownPath, "the client's private socket path");
    requireClientNet(path, ownPath);
    const { socket, identity } = bindDatagram(ownPath, "connect");
    return new UnixDatagramConn(
      new UnixDatagramSocket(socket, identity, maxDatagramSize, removeDir),
      path,
    );
  } catch (error) {
    removeDir();
    throw error;
  }
}
