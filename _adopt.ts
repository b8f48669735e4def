/**
 * The one home of adoption: a socket descriptor this process inherited
 * (from systemd, inetd, a parent process, or received over a Unix socket)
 * turned into a `Deno.Conn` or a `Deno.Listener` that the module's io
 * helpers and `serve()` use unchanged.
 *
 * Deno has no API that turns a descriptor into a `Deno.Conn` (`Deno.FsFile`
 * cannot be constructed from one, and opening `/proc/self/fd/N` of a socket
 * fails with ENXIO). `node:net` can: `new net.Socket({ fd })` adopts a
 * connected socket and `net.Server.listen({ fd })` a listening one, so this
 * file wraps those, and only this file uses them.
 *
 * @module
 */

// node:net is used because it is the only API in Deno that adopts an
// existing socket descriptor (see the module doc above).
import net from "node:net";
// node:fs for fstat of standard input, which Deno has no API for either.
import { fstatSync } from "node:fs";
import { progressStreams } from "./_served_connection.ts";

/** The socket kinds a descriptor can be adopted as. */
export type AdoptedTransport = "tcp" | "unix";

/**
 * Descriptors of the objects adopted here, for {@linkcode descriptorOf},
 * each with a test of whether it is still open: once closed, its number
 * may be reused by the next file opened.
 */
const descriptors = new WeakMap<
  object,
  { fd: number; open: () => boolean }
>();

/** Deno's own error for an operation on a closed resource. */
function badResource(message = "Bad resource ID"): Error {
  return new Deno.errors.BadResource(message);
}

/** Deno's own error for an operation cut short by `close()`. */
function interrupted(): Error {
  return new Deno.errors.Interrupted("operation canceled");
}

/** Node's error codes and the Deno errors native conns raise for them. */
const DENO_ERRORS: Record<
  string,
  new (message: string, options: ErrorOptions) => Error
> = {
  ECONNRESET: Deno.errors.ConnectionReset,
  EPIPE: Deno.errors.BrokenPipe,
  ERR_STREAM_WRITE_AFTER_END: Deno.errors.BrokenPipe,
  ERR_STREAM_DESTROYED: Deno.errors.BadResource,
  ECONNABORTED: Deno.errors.ConnectionAborted,
  ECONNREFUSED: Deno.errors.ConnectionRefused,
  ENOTCONN: Deno.errors.NotConnected,
  EBADF: Deno.errors.BadResource,
  ETIMEDOUT: Deno.errors.TimedOut,
};

/** A node error as the Deno error a native conn would raise, original as cause. */
function denoError(error: unknown): Error {
  const code = (error as { code?: unknown })?.code;
  const Class = typeof code === "string" ? DENO_ERRORS[code] : undefined;
  if (Class === undefined) {
    return error instanceof Error ? error : new Error(String(error));
  }
  return new Class((error as Error).message, { cause: error });
}

/** Checks `fd` is a descriptor number, naming it otherwise. */
function assertDescriptor(fd: number, what: string): void {
  if (!Number.isSafeInteger(fd) || fd < 0) {
    throw new TypeError(
      `${what}: fd must be a non-negative integer descriptor, got ${fd}`,
    );
  }
}

/** Checks `transport` is one adoption knows. */
function assertAdoptedTransport(transport: string, what: string): void {
  if (transport !== "tcp" && transport !== "unix") {
    throw new TypeError(
      `${what}: transport must be "tcp" or "unix", got ${
        JSON.stringify(transport)
      }`,
    );
  }
}

/** The node socket's descriptor, when node exposes it (Unix sockets). */
function nodeDescriptor(handle: unknown): number | undefined {
  const fd = (handle as { _handle?: { fd?: unknown } })?._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** A TCP address as Deno writes it, from node's address and port. */
function netAddr(
  address: string | undefined,
  port: number | undefined,
): Deno.NetAddr {
  return { transport: "tcp", hostname: address ?? "", port: port ?? 0 };
}

/** The address of a TCP server, or an empty one if it has none (yet). */
function listenerNetAddr(server: net.Server): Deno.NetAddr {
  const address = server.address();
  return typeof address === "object" && address !== null
    ? netAddr(address.address, address.port)
    : netAddr(undefined, undefined);
}

/**
 * The paths of an adopted Unix socket's two ends, as its adopter knows
 * them: node gives none (it has no getsockname for Unix sockets).
 */
export interface UnixPaths {
  /** The socket's own path (`localAddr`, a listener's `addr`). */
  local?: string;
  /** The peer's path (`remoteAddr`). */
  remote?: string;
}

/**
 * The address of an adopted Unix socket: the path its adopter gave, else
 * empty, as it is for an unnamed socket.
 */
function unixAddr(path = ""): Deno.UnixAddr {
  return { transport: "unix", path };
}

/** A `Deno.Conn` over a node socket. */
class AdoptedConn implements Deno.Conn {
  readonly #socket: net.Socket;
  readonly #transport: AdoptedTransport;
  readonly #paths: UnixPaths;
  /** Chunks received and not yet read; at most one, the socket is paused. */
  #chunk: Uint8Array | undefined;
  #ended = false;
  #error: Error | undefined;
  #closed = false;
  #localAddr: Deno.Addr | undefined;
  #remoteAddr: Deno.Addr | undefined;
  /** Wakes the readers waiting for a chunk, the end, an error or close. */
  #wake: (() => void) | undefined;
  #changed: Promise<void> | undefined;
  /** Pending operations, settled with Interrupted when the conn is closed. */
  readonly #pending = new Set<(error: Error) => void>();
  declare readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  declare readonly writable: WritableStream<Uint8Array<ArrayBufferLike>>;

  constructor(
    socket: net.Socket,
    transport: AdoptedTransport,
    paths: UnixPaths,
  ) {
    this.#socket = socket;
    this.#transport = transport;
    this.#paths = paths;
    // Flowing one chunk at a time: a slow reader holds the rest in the
    // kernel's buffer, as a native conn does.
    socket.pause();
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunk = chunk;
      socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: unknown) => {
      this.#error ??= denoError(error);
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    Object.defineProperties(this, progressStreams(this));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    this.#changed = undefined;
    wake?.();
  }

  #nextChange(): Promise<void> {
    return this.#changed ??= new Promise<void>((resolve) =>
      this.#wake = resolve
    );
  }

  get localAddr(): Deno.Addr {
    if (this.#transport === "unix") {
      return this.#localAddr ??= unixAddr(this.#paths.local);
    }
    return this.#localAddr ??= netAddr(
      this.#socket.localAddress,
      this.#socket.localPort,
    );
  }

  get remoteAddr(): Deno.Addr {
    if (this.#transport === "unix") {
      return this.#remoteAddr ??= unixAddr(this.#paths.remote);
    }
    return this.#remoteAddr ??= netAddr(
      this.#socket.remoteAddress,
      this.#socket.remotePort,
    );
  }

  async read(p: Uint8Array): Promise<number | null> {
    if (this.#closed) throw badResource();
    if (p.byteLength === 0) return 0;
    while (this.#chunk === undefined) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return null;
      this.#socket.resume();
      let cancel!: (error: Error) => void;
      const cancelled = new Promise<never>((_, reject) => cancel = reject);
      this.#pending.add(cancel);
      try {
        await Promise.race([this.#nextChange(), cancelled]);
      } finally {
        this.#pending.delete(cancel);
      }
    }
    const chunk = this.#chunk;
    const n = Math.min(p.byteLength, chunk.byteLength);
    p.set(chunk.subarray(0, n));
    this.#chunk = n < chunk.byteLength ? chunk.subarray(n) : undefined;
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(badResource());
    if (this.#error !== undefined) return Promise.reject(this.#error);
    // Node reports a write after end() as an error of the whole socket,
    // which would fail the reads too; a native conn fails only the write.
    if (this.#socket.writableEnded) {
      return Promise.reject(
        new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
      );
    }
    if (p.byteLength === 0) return Promise.resolve(0);
    return new Promise<number>((resolve, reject) => {
      const settle = (error?: unknown) => {
        if (!this.#pending.delete(cancel)) return;
        if (error) reject(denoError(error));
        else resolve(p.byteLength);
      };
      const cancel = (error: Error) => {
        this.#pending.delete(cancel);
        reject(error);
      };
      this.#pending.add(cancel);
      // Node calls back once the bytes are handed to the kernel, so the
      // caller may reuse `p` when the promise resolves, as with Deno's write.
      this.#socket.write(p, settle);
    });
  }

  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(badResource());
    if (this.#socket.writableEnded) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const cancel = (error: Error) => {
        this.#pending.delete(cancel);
        reject(error);
      };
      this.#pending.add(cancel);
      this.#socket.end(() => {
        if (!this.#pending.delete(cancel)) return;
        resolve();
      });
    });
  }

  close(): void {
    if (this.#closed) throw badResource();
    this.#closed = true;
    this.#chunk = undefined;
    // destroy() closes the descriptor; node owns it from adoption on.
    this.#socket.destroy();
    for (const cancel of [...this.#pending]) cancel(interrupted());
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  setNoDelay(noDelay = true): void {
    if (this.#transport === "tcp") this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive = true): void {
    if (this.#transport === "tcp") this.#socket.setKeepAlive(keepAlive);
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

function wrapSocket(
  socket: net.Socket,
  transport: AdoptedTransport,
  fd: number | undefined,
  paths: UnixPaths = {},
): Deno.Conn {
  const conn = new AdoptedConn(socket, transport, paths);
  // Node closes the descriptor on close() and on its own once both
  // directions have ended.
  if (fd !== undefined) {
    descriptors.set(conn, { fd, open: () => !socket.destroyed });
  }
  return conn;
}

/**
 * Adopts a connected socket descriptor as a `Deno.Conn`. From then on the
 * returned conn owns the descriptor: its `close()` closes it, once.
 *
 * @param fd The descriptor of a connected stream socket.
 * @param transport `"tcp"` for an Internet socket, `"unix"` for a Unix one.
 * @param paths A Unix socket's own path and its peer's, which node cannot
 * tell: its `localAddr` and `remoteAddr` (empty paths without them).
 * @returns A conn that behaves as Deno's own (a `Deno.TcpConn` for `"tcp"`).
 * @throws {TypeError} If `fd` or `transport` is not valid.
 *
 * @example Adopt the connection inetd gives on descriptor 0
 * ```ts ignore
 * const conn = adoptConn(0, "tcp");
 * await conn.write(new TextEncoder().encode("hello\n"));
 * conn.close();
 * ```
 */
export function adoptConn(
  fd: number,
  transport: AdoptedTransport,
  paths: UnixPaths = {},
): Deno.Conn {
  assertDescriptor(fd, "adoptConn");
  assertAdoptedTransport(transport, "adoptConn");
  const socket = new net.Socket({
    fd,
    allowHalfOpen: true,
    readable: true,
    writable: true,
  });
  return wrapSocket(socket, transport, fd, paths);
}

/**
 * Whether standard input is a socket (not a terminal, a pipe or a file).
 * Deno's node:fs takes the descriptor as a resource id, which is the same
 * number for standard input only: this is no check for other descriptors.
 */
export function isSocketStdin(): boolean {
  try {
    return fstatSync(0).isSocket();
  } catch {
    return false;
  }
}

/**
 * Adopts a connected socket descriptor whose transport is not known, as a
 * conn: a TCP one if the socket has an Internet address, else a Unix one.
 *
 * @param fd The descriptor of a connected stream socket.
 * @returns A conn that owns the descriptor.
 */
export function adoptInheritedConn(fd: number): Deno.Conn {
  assertDescriptor(fd, "adoptInheritedConn");
  const socket = new net.Socket({
    fd,
    allowHalfOpen: true,
    readable: true,
    writable: true,
  });
  const transport = socket.localAddress === undefined ? "unix" : "tcp";
  return wrapSocket(socket, transport, fd);
}

/** A `Deno.Listener` over a node server listening on an adopted descriptor. */
class AdoptedListener implements Deno.Listener {
  readonly #server: net.Server;
  readonly #transport: AdoptedTransport;
  readonly #accepted: net.Socket[] = [];
  #error: Error | undefined;
  #closed = false;
  #addr: Deno.Addr | undefined;
  /** Whether close() was called: the descriptor is closed then. */
  get closed(): boolean {
    return this.#closed;
  }
  /** A Unix listener's path: its `addr`, and its conns' `localAddr`. */
  readonly #path: string | undefined;
  readonly #waiting = new Set<
    { resolve: () => void; reject: (error: Error) => void }
  >();

  constructor(
    fd: number,
    transport: AdoptedTransport | undefined,
    path?: string,
  ) {
    this.#path = path;
    // pauseOnConnect: an accepted socket reads nothing until its conn does.
    this.#server = net.createServer({
      allowHalfOpen: true,
      pauseOnConnect: true,
    });
    this.#server.on("connection", (socket: net.Socket) => {
      if (this.#closed) {
        socket.destroy();
        return;
      }
      // A reset while queued must not be an uncaught error; the conn
      // finds the socket closed when it reads.
      socket.on("error", () => {});
      this.#accepted.push(socket);
      this.#wakeOne();
    });
    this.#server.on("error", (error: unknown) => {
      this.#error = denoError(error);
      for (const waiter of [...this.#waiting]) waiter.reject(this.#error);
    });
    this.#server.listen({ fd });
    // Told apart by the address: node gives a Unix socket none.
    const address = this.#server.address();
    this.#transport = transport ??
      (typeof address === "object" && address !== null ? "tcp" : "unix");
    // Read now: node forgets the address once the server is closed.
    if (this.#transport === "tcp") {
      this.#addr = listenerNetAddr(this.#server);
    }
  }

  #wakeOne(): void {
    const [waiter] = this.#waiting;
    waiter?.resolve();
  }

  get addr(): Deno.Addr {
    return this.#addr ??= this.#transport === "unix"
      ? unixAddr(this.#path)
      : listenerNetAddr(this.#server);
  }

  async accept(): Promise<Deno.Conn> {
    while (true) {
      if (this.#closed) throw badResource("Listener has been closed");
      const socket = this.#accepted.shift();
      if (socket !== undefined) {
        return wrapSocket(socket, this.#transport, nodeDescriptor(socket), {
          local: this.#path,
        });
      }
      if (this.#error !== undefined) throw this.#error;
      await new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            this.#waiting.delete(waiter);
            resolve();
          },
          reject: (error: Error) => {
            this.#waiting.delete(waiter);
            reject(error);
          },
        };
        this.#waiting.add(waiter);
      });
    }
  }

  close(): void {
    if (this.#closed) throw badResource();
    this.#closed = true;
    this.#server.close();
    for (const socket of this.#accepted.splice(0)) socket.destroy();
    for (const waiter of [...this.#waiting]) {
      waiter.reject(badResource("Listener has been closed"));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<Deno.Conn> {
    while (true) {
      try {
        yield await this.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
    }
  }

  ref(): void {
    this.#server.ref();
  }

  unref(): void {
    this.#server.unref();
  }

  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

/**
 * Adopts a listening socket descriptor as a `Deno.Listener` whose accepted
 * connections are adopted conns. From then on the listener owns the
 * descriptor: its `close()` closes it, once. A Unix socket's file is left
 * in place: whoever bound it removes it. Node accepts as connections
 * arrive, so a server pausing at `maxConnections` holds the waiting ones
 * accepted rather than in the kernel's backlog.
 *
 * @param fd The descriptor of a listening stream socket.
 * @param transport `"tcp"` for an Internet socket, `"unix"` for a Unix one.
 * @param path A Unix socket's path, which node cannot tell: the listener's
 * `addr` and its conns' `localAddr` (empty paths without it).
 * @returns A listener for `serve()` or an accept loop.
 * @throws {TypeError} If `fd` or `transport` is not valid.
 *
 * @example Serve the first socket systemd passes
 * ```ts ignore
 * import { serve } from "./server.ts";
 *
 * const listener = adoptListener(3, "tcp");
 * await serve(listener, (conn) => conn.write(new TextEncoder().encode("hi\n")))
 *   .finished;
 * ```
 */
export function adoptListener(
  fd: number,
  transport: AdoptedTransport,
  path?: string,
): Deno.Listener {
  assertDescriptor(fd, "adoptListener");
  assertAdoptedTransport(transport, "adoptListener");
  const listener = new AdoptedListener(fd, transport, path);
  descriptors.set(listener, { fd, open: () => !listener.closed });
  return listener;
}

/**
 * Adopts a listening socket descriptor whose transport is not known: a TCP
 * listener if the socket has an Internet address, else a Unix one.
 *
 * @param fd The descriptor of a listening stream socket.
 * @returns A listener that owns the descriptor.
 */
export function adoptInheritedListener(fd: number): Deno.Listener {
  assertDescriptor(fd, "adoptInheritedListener");
  const listener = new AdoptedListener(fd, undefined);
  descriptors.set(listener, { fd, open: () => !listener.closed });
  return listener;
}

/**
 * The descriptor of a conn or listener adopted here while it is open;
 * `undefined` once it is closed (its number may be another file's then),
 * for a native one, and for a TCP conn accepted by an adopted listener
 * (node does not expose that descriptor).
 *
 * @param resource A conn or listener.
 * @returns Its descriptor, or `undefined`.
 *
 * @example The descriptor of an adopted conn
 * ```ts ignore
 * const conn = adoptConn(0, "unix");
 * console.log(descriptorOf(conn)); // 0
 * ```
 */
export function descriptorOf(
  resource: Deno.Conn | Deno.Listener,
): number | undefined {
  const entry = descriptors.get(resource);
  return entry !== undefined && entry.open() ? entry.fd : undefined;
}
