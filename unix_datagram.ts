// Unix datagram sockets (SOCK_DGRAM, Deno's `unixpacket` transport): the bound
// socket, the client pinned to one server, and how each binds its file. They
// have the shapes of the UDP sockets (`UdpSocket`, `ConnectedUdpSocket`).

import { untilClosed } from "./_async.ts";
import { annotate, requireUnstableNet } from "./_errors.ts";
import { DEFAULT_MAX_DATAGRAM_SIZE } from "./_lifecycle.ts";
import {
  assertPathOptions,
  assertSocketPath,
  bindDatagram,
  clearStaleSocket,
  DATAGRAM,
  type FileIdentity,
  removeIfSame,
  requirePermissions,
  senderOf,
} from "./_socket_file.ts";
import {
  assertBoolean,
  assertDatagramSize,
  assertKnownOptions,
  assertOptions,
  show,
} from "./_validate.ts";

/**
 * Options of {@linkcode listenUnixDatagram}.
 *
 * @example A socket that takes datagrams of up to 64 KiB
 * ```ts
 * import { connectUnixDatagram, listenUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * using server = await listenUnixDatagram({
 *   path: `${dir}/log.sock`,
 *   removeStale: true,
 *   maxDatagramSize: 64 * 1024,
 * });
 * using client = await connectUnixDatagram(server.addr.path);
 * await client.send(new Uint8Array(60_000));
 * assertEquals((await server.receive()).data.length, 60_000);
 * ```
 */
export interface ListenUnixDatagramOptions {
  /**
   * Path of the socket file, at most 107 bytes (`sun_path`), or a Linux
   * abstract name (`"\0name"`: no file, needs a bare `--allow-net`).
   */
  path: string;
  /**
   * Remove a stale socket file (one that no socket answers, as a crashed
   * process leaves) before binding. When `false`, a stale file is an error.
   * A live socket, and anything that is not a socket, are never removed.
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

const LISTEN_UNIX_DATAGRAM_OPTION_NAMES: readonly string[] = [
  "path",
  "removeStale",
  "maxDatagramSize",
];

/**
 * Options of {@linkcode connectUnixDatagram}.
 *
 * @example A client whose own socket lives in a directory of its choice
 * ```ts
 * import { connectUnixDatagram, listenUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * using server = await listenUnixDatagram({ path: `${dir}/s.sock` });
 * using client = await connectUnixDatagram(server.addr.path, {
 *   dir,
 *   maxDatagramSize: 1024,
 * });
 * assertEquals(client.addr.path.startsWith(dir), true);
 * await client.send(new Uint8Array([1]));
 * assertEquals((await server.receive()).from.path, client.addr.path);
 * ```
 */
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

const CONNECT_UNIX_DATAGRAM_OPTION_NAMES: readonly string[] = [
  "dir",
  "localPath",
  "maxDatagramSize",
];

/**
 * A received datagram and its sender, as {@linkcode UnixDatagramSocket.receive}
 * gives them.
 *
 * @example Answer the sender
 * ```ts
 * import { connectUnixDatagram, listenUnixDatagram, type UnixDatagram } from "@sockets/net/unix";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await listenUnixDatagram({ path: `${dir}/s.sock` });
 * await using client = await connectUnixDatagram(server.addr.path);
 * await client.send(new Uint8Array([1]));
 * const { data, from }: UnixDatagram = await server.receive();
 * await server.send(data, from);
 * ```
 */
export interface UnixDatagram {
  /** The datagram: a copy, the caller's to keep. */
  data: Uint8Array<ArrayBuffer>;
  /** The sender's address; `from.path` is `""` when the sender is bound to no path (and cannot be answered). */
  from: Deno.UnixAddr;
}

/**
 * Where a datagram goes: a socket path, or an address such as a datagram's `from`.
 *
 * @example A path, or the address a datagram came from
 * ```ts
 * import {
 *   connectUnixDatagram,
 *   listenUnixDatagram,
 *   type UnixDatagramTarget,
 * } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * using server = await listenUnixDatagram({ path: `${dir}/s.sock` });
 * using client = await connectUnixDatagram(server.addr.path);
 * await client.send(new Uint8Array([1]));
 * const { from } = await server.receive();
 * const targets: UnixDatagramTarget[] = [from, from.path];
 * for (const target of targets) await server.send(new Uint8Array([2]), target);
 * assertEquals(await client.receive(), new Uint8Array([2]));
 * assertEquals(await client.receive(), new Uint8Array([2]));
 * ```
 */
export type UnixDatagramTarget = string | Deno.UnixAddr;

/** The path of a send target, validated; `name` names the argument. */
function targetPath(to: unknown, name: string): string {
  const path = typeof to === "object" && to !== null && "path" in to
    ? (to as Deno.UnixAddr).path
    : to;
  if (path === "") {
    throw new RangeError(
      `${name} is a sender bound to no path (path ""), which cannot be answered; answer only datagrams whose from.path is not empty`,
    );
  }
  assertSocketPath(path, name);
  return path;
}

function closedError(op: string, path: string): Error {
  return new Deno.errors.BadResource(
    `${op} ${DATAGRAM} ${path}: the socket is closed`,
  );
}

/**
 * A bound Unix datagram socket, the counterpart of `UdpSocket`: from
 * {@linkcode listenUnixDatagram}. Receives datagrams with their sender,
 * sends to any path, and removes its socket file on close if it is still the
 * one it created.
 *
 * @example Receive one datagram
 * ```ts
 * import { connectUnixDatagram, listenUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * using server = await listenUnixDatagram({ path: `${dir}/s.sock` });
 * using client = await connectUnixDatagram(server.addr.path);
 * await client.send(new TextEncoder().encode("hi"));
 * const { data, from } = await server.receive();
 * assertEquals(new TextDecoder().decode(data), "hi");
 * assertEquals(from.path, client.addr.path);
 * ```
 */
export class UnixDatagramSocket
  implements AsyncIterable<UnixDatagram>, Disposable, AsyncDisposable {
  readonly #socket: Deno.DatagramConn;
  readonly #addr: Deno.UnixAddr;
  readonly #identity: FileIdentity;
  readonly #buffer: Uint8Array<ArrayBuffer>;
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
    this.#addr = socket.addr as Deno.UnixAddr;
    this.#identity = identity;
    this.#buffer = new Uint8Array(maxDatagramSize);
    this.#onClose = onClose;
  }

  /** The socket's own address; `addr.path` is its socket file. */
  get addr(): Deno.UnixAddr {
    return this.#addr;
  }

  /** Whether {@linkcode UnixDatagramSocket.close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one datagram.
   *
   * @param data The datagram.
   * @param to The receiver: its socket path, or an address such as a
   * received datagram's `from`; needs `--allow-write` and
   * `--allow-net=unix:PATH` on it.
   * @returns The number of bytes sent.
   * @throws {TypeError} If `data` is not a `Uint8Array` or `to` is not a path.
   * @throws {RangeError} If `to` is a sender bound to no path, or a bad path.
   * @throws {Deno.errors.NotFound} If no socket file is at `to`.
   * @throws {Deno.errors.BadResource} If the socket is closed.
   */
  async send(data: Uint8Array, to: UnixDatagramTarget): Promise<number> {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array, got ${show(data)}`);
    }
    const path = targetPath(to, "to");
    if (this.#closed) throw closedError("send", path);
    try {
      return await this.#socket.send(data, { transport: DATAGRAM, path });
    } catch (error) {
      if (this.#closed) throw closedError("send", path);
      throw annotate(error, { op: "send", network: DATAGRAM, address: path });
    }
  }

  /**
   * Waits for the next datagram.
   *
   * @returns The datagram (a copy, the caller's to keep) and its sender.
   * @throws {Deno.errors.BadResource} If the socket is closed, before or
   * while waiting.
   */
  async receive(): Promise<UnixDatagram> {
    if (this.#closed) throw closedError("receive", this.#addr.path);
    try {
      const [data, from] = await this.#socket.receive(this.#buffer);
      return { data: data.slice(), from: senderOf(from) };
    } catch (error) {
      if (this.#closed) throw closedError("receive", this.#addr.path);
      throw annotate(error, {
        op: "receive",
        network: DATAGRAM,
        address: this.#addr.path,
      });
    }
  }

  /**
   * Iterates over the received datagrams until the socket is closed.
   *
   * @returns An iterator over the datagrams.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<UnixDatagram> {
    return untilClosed(() => this.receive());
  }

  /** Closes the socket and removes its file if it is still the one this socket created. Closing twice is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    removeIfSame(this.#addr.path, this.#identity);
    try {
      this.#socket.close();
    } finally {
      this.#onClose?.();
    }
  }

  /** Closes the socket, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Closes the socket, for `await using`.
   *
   * @returns A promise that resolves once it is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Binds a Unix datagram socket (SOCK_DGRAM, Deno's `unixpacket` transport)
 * at a path: receive datagrams with their sender, and answer them. For a
 * server that runs a handler per datagram, see `serveUnixDatagram`.
 *
 * It is async because it touches the file system: a stale socket file at
 * the path is probed and removed first; a live socket, or a file that is not
 * a socket, makes it fail. On close, the file is removed if it is still the
 * one this socket created (Deno itself leaves it behind).
 *
 * Needs `--unstable-net`, and `--allow-read`, `--allow-write` and
 * `--allow-net=unix:PATH` on the path.
 *
 * @param options The socket path and receive options.
 * @returns The bound socket.
 * @throws {TypeError} If an option has the wrong type, or an option name is unknown.
 * @throws {RangeError} If the path is empty or longer than 107 bytes.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} If permission on the path is missing; the
 * message names the flags.
 * @throws {Deno.errors.NotFound} If the path's directory does not exist.
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
 * const { data, from } = await server.receive();
 * const upper = new TextDecoder().decode(data).toUpperCase();
 * await server.send(new TextEncoder().encode(upper), from);
 * assertEquals(new TextDecoder().decode(await client.receive()), "HI");
 * ```
 */
export async function listenUnixDatagram(
  options: ListenUnixDatagramOptions,
): Promise<UnixDatagramSocket> {
  assertPathOptions(options, "options");
  assertKnownOptions(options, LISTEN_UNIX_DATAGRAM_OPTION_NAMES);
  const {
    path,
    removeStale = true,
    maxDatagramSize = DEFAULT_MAX_DATAGRAM_SIZE,
  } = options;
  assertSocketPath(path, "options.path");
  assertBoolean(removeStale, "options.removeStale");
  assertDatagramSize(maxDatagramSize, "options.maxDatagramSize");
  requireUnstableNet(`listen ${DATAGRAM} ${path}`);
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
 * A Unix datagram client pinned to one server, the counterpart of
 * `ConnectedUdpSocket`: from {@linkcode connectUnixDatagram}.
 *
 * @example Ask and wait for the answer
 * ```ts
 * import { connectUnixDatagram, serveUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnixDatagram({ path: `${dir}/echo.sock` }, (data) => data);
 * using client = await connectUnixDatagram(server.addr.path);
 * await client.send(new TextEncoder().encode("ping"));
 * assertEquals(new TextDecoder().decode(await client.receive()), "ping");
 * ```
 */
export class ConnectedUnixDatagramSocket
  implements
    AsyncIterable<Uint8Array<ArrayBuffer>>,
    Disposable,
    AsyncDisposable {
  readonly #socket: UnixDatagramSocket;
  readonly #remoteAddr: Deno.UnixAddr;

  /**
   * Wraps a bound socket; use {@linkcode connectUnixDatagram} rather than this constructor.
   *
   * @param socket The client's own bound socket.
   * @param peer The server's socket path.
   */
  constructor(socket: UnixDatagramSocket, peer: string) {
    this.#socket = socket;
    this.#remoteAddr = { transport: DATAGRAM, path: peer };
  }

  /** The client's own address: `options.localPath`, or a path in its private directory. */
  get addr(): Deno.UnixAddr {
    return this.#socket.addr;
  }

  /** The server's address. */
  get remoteAddr(): Deno.UnixAddr {
    return this.#remoteAddr;
  }

  /** Whether {@linkcode ConnectedUnixDatagramSocket.close} has been called. */
  get closed(): boolean {
    return this.#socket.closed;
  }

  /**
   * Sends one datagram to the server.
   *
   * @param data The datagram.
   * @returns The number of bytes sent.
   * @throws {Deno.errors.NotFound} If the server's socket file is gone.
   * @throws {Deno.errors.BadResource} If the socket is closed.
   */
  send(data: Uint8Array): Promise<number> {
    return this.#socket.send(data, this.#remoteAddr.path);
  }

  /**
   * Waits for the next datagram sent to this client.
   *
   * @returns The datagram.
   * @throws {Deno.errors.BadResource} If the socket is closed, before or
   * while waiting.
   */
  async receive(): Promise<Uint8Array<ArrayBuffer>> {
    return (await this.#socket.receive()).data;
  }

  /**
   * Iterates over the received datagrams until the client is closed.
   *
   * @returns An iterator over the datagrams.
   */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<
    Uint8Array<ArrayBuffer>
  > {
    for await (const { data } of this.#socket) yield data;
  }

  /** Closes the socket and removes its file and private directory. Closing twice is harmless. */
  close(): void {
    this.#socket.close();
  }

  /** Closes the client, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Closes the client, for `await using`.
   *
   * @returns A promise that resolves once it is closed.
   */
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
): Promise<ConnectedUnixDatagramSocket> {
  const context = { op: "connect", network: DATAGRAM };
  requirePermissions({ ...context, address: path }, [
    { name: "write", path },
    { name: "net", path },
    { name: "read", path: ownPath },
    { name: "write", path: ownPath },
    { name: "net", path: ownPath },
  ]);
  await clearStaleSocket(ownPath, true, context);
  const { socket, identity } = bindDatagram(ownPath, "connect", path);
  return new ConnectedUnixDatagramSocket(
    new UnixDatagramSocket(socket, identity, maxDatagramSize),
    path,
  );
}

/** Creates the client's private directory: mode 0700, as `mkdtemp(3)`. */
async function makeClientDirectory(
  dir: string | undefined,
  path: string,
): Promise<string> {
  try {
    return await Deno.makeTempDir(dir === undefined ? {} : { dir });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable && dir === undefined) {
      throw new Deno.errors.NotCapable(
        `connect ${DATAGRAM} ${path}: permission denied for the client's private directory in the system temporary directory; run again with --allow-read and --allow-write for it (such as --allow-read=/tmp --allow-write=/tmp), or pass options.dir`,
        { cause: error },
      );
    }
    throw annotate(error, {
      op: "connect",
      network: DATAGRAM,
      address: path,
      directory: dir,
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
 * It is async because it touches the file system (the private directory, or
 * a stale file at `options.localPath`).
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
 * @throws {TypeError} If an argument or option has the wrong type, or an option name is unknown.
 * @throws {RangeError} If the path is empty or longer than 107 bytes.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} If a permission is missing; the message
 * names the flags.
 * @throws {Deno.errors.NotFound} If `options.dir`, or the directory of
 * `options.localPath`, does not exist.
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
 * const { data, from } = await server.receive();
 * await server.send(data, from);
 * assertEquals(new TextDecoder().decode(await client.receive()), "ping");
 * ```
 */
export async function connectUnixDatagram(
  path: string,
  options: ConnectUnixDatagramOptions = {},
): Promise<ConnectedUnixDatagramSocket> {
  assertSocketPath(path, "path");
  assertOptions(options);
  assertKnownOptions(options, CONNECT_UNIX_DATAGRAM_OPTION_NAMES);
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
  requireUnstableNet(`connect ${DATAGRAM} ${path}`);
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
  const privateDir = await makeClientDirectory(dir, path);
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
    const { socket, identity } = bindDatagram(ownPath, "connect", path);
    return new ConnectedUnixDatagramSocket(
      new UnixDatagramSocket(socket, identity, maxDatagramSize, removeDir),
      path,
    );
  } catch (error) {
    removeDir();
    throw error;
  }
}
