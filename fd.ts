/**
 * Descriptors: the end of the classic Unix-socket chapter, which Deno has
 * no API for. {@linkcode socketPair} makes two connected sockets with
 * `socketpair(2)`; {@linkcode peerCredentials} tells who is at the other end
 * of a Unix connection (`SO_PEERCRED`); a {@linkcode DescriptorChannel}
 * passes open descriptors (sockets, listeners, files, pipes) with a payload
 * to another process or Worker (`SCM_RIGHTS`).
 *
 * This is the one entry point that calls the C library through Deno's FFI,
 * and the only one that needs `--allow-ffi`: the rest of the module never
 * imports it. The library is opened on first use, by its absolute path (on
 * Debian and Ubuntu `/lib/x86_64-linux-gnu/libc.so.6`, or the `aarch64`
 * one), so the least grant is `--allow-ffi=` that path; a bare
 * `--allow-ffi` works too. Without it, the error names the flag with the
 * path found on the machine. Importing needs no permission. On other
 * systems than Linux, every function throws `Deno.errors.NotSupported`.
 *
 * The sockets made here are turned into `Deno.Conn` and `Deno.Listener`
 * objects over `node:net`, the one way Deno adopts a descriptor, so they
 * work with every io helper and with `serve()`; their descriptor stays
 * known, which `peerCredentials` needs. A native `Deno.UnixConn` exposes
 * none: a Unix server whose handlers want their peers' credentials listens
 * with {@linkcode listenUnix} from here and serves with `serve()`.
 *
 * A channel's reads are the module's own (`recvmsg`), never Deno's reactor:
 * a read pending there would take the bytes and the kernel would discard
 * the descriptors passed with them. All channels share one poller, a single
 * `poll(2)` in flight, whatever their number: FFI calls that wait run on
 * Deno's blocking pool of 32 threads, which one waiting call per socket
 * would exhaust.
 *
 * @example Two connected ends, one process
 * ```ts
 * import { socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [left, right] = socketPair();
 * await left.write(new TextEncoder().encode("ping"));
 * const buffer = new Uint8Array(4);
 * assertEquals(await right.read(buffer), 4);
 * assertEquals(new TextDecoder().decode(buffer), "ping");
 * left.close();
 * right.close();
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import { adoptConn, adoptListener, descriptorOf } from "./_adopt.ts";
import {
  AF_UNIX,
  check,
  closeQuietly,
  type DescriptorKind,
  EAGAIN,
  EINTR,
  errno,
  familyOf,
  kindOf,
  libc,
  osError,
  POLLIN,
  POLLOUT,
  SO_PEERCRED,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  socketPairFds,
  SOL_SOCKET,
} from "./_libc.ts";
import { forget, ready } from "./_poller.ts";
import {
  MAX_DESCRIPTORS,
  MAX_PAYLOAD_BYTES,
  receiveMessage,
  sendMessage,
} from "./_scm.ts";
import { assertSocketPath, requirePermissions } from "./_socket_file.ts";

export type { DescriptorKind } from "./_libc.ts";
export { MAX_DESCRIPTORS, MAX_PAYLOAD_BYTES };

/** The `listen(2)` backlog of {@linkcode listenUnix}: Linux's default `somaxconn` (4096 since 5.4). */
const LISTEN_BACKLOG = 4096;
/** A pipe's atomic write size (`PIPE_BUF`): a write this large never blocks after `POLLOUT`. */
const PIPE_BUF = 4096;

/**
 * An open descriptor this object owns until it is turned into something
 * else ({@linkcode Descriptor.toConn}, {@linkcode Descriptor.toListener},
 * {@linkcode Descriptor.toFile}, {@linkcode Descriptor.toChannel}) or
 * {@linkcode Descriptor.take}n as a raw number, which hands the duty to
 * close it on. Closing it twice, or after it was handed on, does nothing.
 *
 * @example Hand one end of a pair to a Worker, which adopts it
 * ```ts
 * import { Descriptor, descriptorPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [mine, theirs] = descriptorPair();
 * // Workers share the process's descriptors: post the number, and the
 * // Worker owns it from then on (new Descriptor(fd).toConn() there).
 * const fd = theirs.take();
 * using conn = new Descriptor(fd).toConn();
 * using other = mine.toConn();
 * await other.write(new Uint8Array([1]));
 * assertEquals(await conn.read(new Uint8Array(1)), 1);
 * ```
 */
export class Descriptor implements Disposable {
  #fd: number;

  /**
   * Takes ownership of `fd`, an open descriptor of this process.
   *
   * @param fd The descriptor's number.
   */
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) {
      throw new TypeError(
        `a descriptor must be a non-negative integer, such as 3, got ${
          String(fd)
        }`,
      );
    }
    this.#fd = fd;
  }

  /** The descriptor's number; -1 once closed or handed on. */
  get fd(): number {
    return this.#fd;
  }

  /** What the descriptor is, by `fstat(2)` and, for a socket, `SO_TYPE` and `SO_ACCEPTCONN`. */
  get kind(): DescriptorKind {
    return kindOf(libc("fstat"), this.#open("fstat"));
  }

  #open(what: string): number {
    if (this.#fd < 0) {
      throw new Deno.errors.BadResource(
        `${what}: the descriptor was already closed or handed on`,
      );
    }
    return this.#fd;
  }

  /** Hands the raw number on: the caller must close it from now on. */
  take(): number {
    const fd = this.#open("take");
    this.#fd = -1;
    return fd;
  }

  #expect(kinds: DescriptorKind[], what: string): number {
    const fd = this.#open(what);
    const kind = kindOf(libc(what), fd);
    if (!kinds.includes(kind)) {
      throw new TypeError(
        `${what} ${fd}: the descriptor is a ${kind}, not a ${
          kinds.join(" or ")
        }; use ${kind === "listener" ? "toListener()" : "toFile() or take()"}`,
      );
    }
    return fd;
  }

  /** Turns a connected stream socket (Unix or TCP) into a `Deno.Conn`, which then owns it. */
  toConn(): Deno.Conn {
    const fd = this.#expect(["stream"], "toConn");
    const conn = adoptConn(fd, familyOf(libc("toConn"), fd) ?? "unix");
    this.#fd = -1;
    return conn;
  }

  /** Turns a listening stream socket into a `Deno.Listener`, which then owns it. */
  toListener(): Deno.Listener {
    const fd = this.#expect(["listener"], "toListener");
    const listener = adoptListener(
      fd,
      familyOf(libc("toListener"), fd) ?? "unix",
    );
    this.#fd = -1;
    return listener;
  }

  /** Turns a file, pipe or device into a {@linkcode DescriptorFile}, which then owns it. */
  toFile(): DescriptorFile {
    this.#expect(["file", "pipe", "character device"], "toFile");
    return new DescriptorFile(this.take());
  }

  /** Turns a Unix stream socket into a {@linkcode DescriptorChannel}, which then owns it. */
  toChannel(): DescriptorChannel {
    const fd = this.#expect(["stream"], "toChannel");
    if (familyOf(libc("toChannel"), fd) !== "unix") {
      throw new TypeError(
        `toChannel ${fd}: descriptors pass only over Unix sockets, and this is a TCP one`,
      );
    }
    return new DescriptorChannel(this.take());
  }

  /** Closes the descriptor, unless it was closed or handed on. */
  close(): void {
    if (this.#fd < 0) return;
    closeQuietly(libc("close"), this.#fd);
    this.#fd = -1;
  }

  /** Closes the descriptor, unless it was closed or handed on. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A file, pipe or device received as a descriptor: reads and writes wait
 * on the module's one poller, so a pipe with nothing to read never holds a
 * thread. It has the `read`/`write` shape of the io helpers.
 *
 * @example Read and write through a raw descriptor
 * ```ts
 * import { DescriptorFile, descriptorPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = descriptorPair();
 * using left = new DescriptorFile(a.take());
 * using right = new DescriptorFile(b.take());
 * await left.write(new TextEncoder().encode("hi"));
 * const buffer = new Uint8Array(2);
 * assertEquals(await right.read(buffer), 2);
 * ```
 */
export class DescriptorFile implements Disposable {
  #descriptor: Descriptor;

  /**
   * Takes ownership of `fd`, a file, pipe or device.
   *
   * @param fd The descriptor's number.
   */
  constructor(fd: number) {
    this.#descriptor = new Descriptor(fd);
  }

  /** The descriptor's number; -1 once closed. */
  get fd(): number {
    return this.#descriptor.fd;
  }

  /**
   * Reads into `buffer` once it can; `null` at the end of the file.
   *
   * @param buffer Where the bytes go.
   * @returns How many bytes were read, or `null` at the end.
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    const c = libc("read");
    for (;;) {
      await ready(this.#fdFor("read"), POLLIN);
      const scratch = new Uint8Array(buffer.byteLength);
      const n = Number(
        c.read(this.#fdFor("read"), scratch, BigInt(scratch.byteLength)),
      );
      if (n < 0) {
        const code = errno(c);
        if (code === EAGAIN || code === EINTR) continue;
        throw osError(`read ${this.fd}`, code);
      }
      buffer.set(scratch.subarray(0, n));
      return n === 0 && buffer.byteLength > 0 ? null : n;
    }
  }

  /**
   * Writes part of `data` once it can.
   *
   * @param data The bytes to write.
   * @returns How many bytes were written.
   */
  async write(data: Uint8Array): Promise<number> {
    const c = libc("write");
    for (;;) {
      await ready(this.#fdFor("write"), POLLOUT);
      const chunk = data.slice(0, PIPE_BUF);
      const n = Number(
        c.write(this.#fdFor("write"), chunk, BigInt(chunk.byteLength)),
      );
      if (n >= 0) return n;
      const code = errno(c);
      if (code !== EAGAIN && code !== EINTR) {
        throw osError(`write ${this.fd}`, code);
      }
    }
  }

  #fdFor(what: string): number {
    const fd = this.#descriptor.fd;
    if (fd < 0) {
      throw new Deno.errors.BadResource(`${what}: the file is closed`);
    }
    return fd;
  }

  /** Closes the descriptor; a pending read or write rejects. */
  close(): void {
    const fd = this.#descriptor.fd;
    if (fd < 0) return;
    forget(fd, new Deno.errors.BadResource(`the file ${fd} was closed`));
    this.#descriptor.close();
  }

  /** Closes the descriptor. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A message received on a {@linkcode DescriptorChannel}. */
export interface DescriptorMessage {
  /** The bytes sent with the descriptors. */
  payload: Uint8Array;
  /** The descriptors, in the order sent, each owned by its `Descriptor` until handed on. */
  descriptors: Descriptor[];
}

/** Options of {@linkcode DescriptorChannel.receive}. */
export interface ReceiveOptions {
  /**
   * Aborting it ends the wait: the call rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** Something whose descriptor can be sent: a raw number, a `Descriptor`, or a conn or listener made by this entry point. */
export type Sendable = number | Descriptor | Deno.Conn | Deno.Listener;

/**
 * A Unix stream socket that carries descriptors with a payload
 * (`SCM_RIGHTS`), to another process or Worker. A message is a 4-byte
 * big-endian payload length, the payload, and up to
 * {@linkcode MAX_DESCRIPTORS} descriptors attached to its first byte; a
 * Python peer writes one with `socket.send_fds(sock, [struct.pack("!I",
 * len(data)) + data], fds)`.
 *
 * @example Pass a connected socket with its name
 * ```ts
 * import { DescriptorChannel, socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * using parent = DescriptorChannel.pair();
 * const [here, there] = socketPair();
 * await parent[0].send(new TextEncoder().encode("greeter"), [there]);
 * there.close(); // the peer holds its own copy now
 *
 * const message = await parent[1].receive();
 * using received = message!.descriptors[0].toConn();
 * await received.write(new TextEncoder().encode("hi"));
 * const buffer = new Uint8Array(2);
 * assertEquals(await here.read(buffer), 2);
 * here.close();
 * ```
 */
export class DescriptorChannel implements Disposable {
  #descriptor: Descriptor;
  #sending: Promise<unknown> = Promise.resolve();
  #receiving: Promise<unknown> = Promise.resolve();

  /**
   * Takes ownership of `fd`, a connected Unix stream socket.
   *
   * @param fd The descriptor's number.
   */
  constructor(fd: number) {
    this.#descriptor = new Descriptor(fd);
  }

  /**
   * Two connected channels (`socketpair(2)`): keep one, and hand the other's
   * number to a Worker with {@linkcode DescriptorChannel.take}.
   *
   * @returns The two ends, each disposable; disposing the pair closes both.
   */
  static pair(): [DescriptorChannel, DescriptorChannel] & Disposable {
    const [a, b] = socketPairFds(libc("socketpair"));
    const pair = [new DescriptorChannel(a), new DescriptorChannel(b)] as
      & [DescriptorChannel, DescriptorChannel]
      & Disposable;
    pair[Symbol.dispose] = () => {
      pair[0].close();
      pair[1].close();
    };
    return pair;
  }

  /**
   * Connects to a Unix socket path, such as the control socket of a
   * running server. Needs the same permissions as `Deno.connect` at that
   * path besides FFI: `--allow-read`, `--allow-write` and
   * `--allow-net=unix:PATH`.
   *
   * @param path The socket file.
   * @returns The connected channel.
   */
  static connect(path: string): DescriptorChannel {
    assertSocketPath(path, "path");
    requirePermissions({ op: "connect", network: "unix", address: path }, [
      { name: "read", path },
      { name: "write", path },
      { name: "net", path },
    ]);
    const c = libc(`connect unix ${path}`);
    const fd = check(
      c,
      `connect unix ${path}: socket`,
      c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
    );
    const address = socketAddress(path);
    if (c.connect(fd, address, address.byteLength) < 0) {
      const code = errno(c);
      c.close(fd);
      throw osError(`connect unix ${path}`, code);
    }
    return new DescriptorChannel(fd);
  }

  /** The socket's number; -1 once closed or handed on. */
  get fd(): number {
    return this.#descriptor.fd;
  }

  /** Hands the raw number on (to a Worker): the caller must close it from now on. */
  take(): number {
    return this.#descriptor.take();
  }

  /**
   * Sends `payload` with `descriptors`. The peer receives copies: the
   * sender keeps its own, and closes them when it no longer needs them.
   *
   * @param payload The bytes that go with the descriptors, at most {@linkcode MAX_PAYLOAD_BYTES}.
   * @param descriptors At most {@linkcode MAX_DESCRIPTORS}.
   */
  send(
    payload: Uint8Array,
    descriptors: readonly Sendable[] = [],
  ): Promise<void> {
    const fds = descriptors.map(numberOf);
    const fd = this.#descriptor.fd;
    const what = `send unix ${fd}`;
    const sent = this.#sending.then(() =>
      sendMessage(libc(what), this.#fdFor(what), payload, fds, what)
    );
    this.#sending = sent.catch(() => {});
    return sent;
  }

  /**
   * Receives the next message, or `null` when the peer has closed between
   * messages. Truncated control data (`MSG_CTRUNC`) rejects, after closing
   * the descriptors that did arrive.
   *
   * @param options `signal` ends the wait.
   * @returns The payload and the descriptors, which the caller now owns.
   */
  receive(options: ReceiveOptions = {}): Promise<DescriptorMessage | null> {
    const what = `receive unix ${this.#descriptor.fd}`;
    const received = this.#receiving.then(async () => {
      const raw = await receiveMessage(
        libc(what),
        this.#fdFor(what),
        what,
        options.signal,
      );
      if (raw === null) return null;
      return {
        payload: raw.payload,
        descriptors: raw.descriptors.map((fd) => new Descriptor(fd)),
      };
    });
    this.#receiving = received.catch(() => {});
    return received;
  }

  #fdFor(what: string): number {
    const fd = this.#descriptor.fd;
    if (fd < 0) {
      throw new Deno.errors.BadResource(`${what}: the channel is closed`);
    }
    return fd;
  }

  /** Closes the socket; a pending send or receive rejects. */
  close(): void {
    const fd = this.#descriptor.fd;
    if (fd < 0) return;
    forget(fd, new Deno.errors.BadResource(`the channel ${fd} was closed`));
    this.#descriptor.close();
  }

  /** Closes the socket. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function numberOf(item: Sendable, index: number): number {
  if (typeof item === "number") return item;
  if (item instanceof Descriptor) return item.fd;
  const fd = descriptorOf(item);
  if (fd === undefined) {
    throw new TypeError(
      `descriptors[${index}]: Deno's own connections and listeners do not expose their descriptor; send one made by @sockets/net/fd (socketPair, listenUnix, or received)`,
    );
  }
  return fd;
}

function socketAddress(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  const address = new Uint8Array(2 + 108);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(bytes, 2);
  return address;
}

/**
 * The raw descriptors of a socket pair (`socketpair(2)`, `AF_UNIX`,
 * `SOCK_STREAM`, close-on-exec), each owned by its `Descriptor`.
 *
 * @returns The two connected ends.
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi`.
 *
 * @example Make a pair and adopt one end
 * ```ts
 * import { descriptorPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = descriptorPair();
 * assertEquals(a.kind, "stream");
 * a.close();
 * b.close();
 * ```
 */
export function descriptorPair(): [Descriptor, Descriptor] {
  const [a, b] = socketPairFds(libc("socketpair"));
  return [new Descriptor(a), new Descriptor(b)];
}

/**
 * Two connected Unix stream sockets (`socketpair(2)`) as `Deno.Conn`s,
 * which work with every io helper and `serve()`, and whose descriptors
 * {@linkcode peerCredentials} and {@linkcode DescriptorChannel.send} can
 * use.
 *
 * @returns The two ends; closing one ends the other's reads.
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi`.
 * @throws {Deno.errors.NotSupported} On another system than Linux.
 *
 * @example Talk over a pair
 * ```ts
 * import { socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = socketPair();
 * await a.write(new Uint8Array([42]));
 * const buffer = new Uint8Array(1);
 * await b.read(buffer);
 * assertEquals(buffer[0], 42);
 * a.close();
 * b.close();
 * ```
 */
export function socketPair(): [Deno.Conn, Deno.Conn] {
  const [a, b] = descriptorPair();
  return [a.toConn(), b.toConn()];
}

/** Who is at the other end of a Unix connection, as the kernel recorded it at connect time. */
export interface PeerCredentials {
  /** The peer's process id. */
  pid: number;
  /** The peer's effective user id. */
  uid: number;
  /** The peer's effective group id. */
  gid: number;
}

/**
 * The credentials of a Unix connection's peer (`SO_PEERCRED`): its process,
 * user and group ids when it connected (or made the pair).
 *
 * Only connections whose descriptor is known have them: those made here
 * ({@linkcode socketPair}, received ones) and those accepted by a
 * {@linkcode listenUnix} listener. A native `Deno.UnixConn` exposes no
 * descriptor, and is refused with a `TypeError` saying so.
 *
 * @param conn A Unix connection, or a channel.
 * @returns The peer's pid, uid and gid.
 *
 * @example The peer of a pair end is this process
 * ```ts
 * import { peerCredentials, socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = socketPair();
 * assertEquals(peerCredentials(a).pid, Deno.pid);
 * a.close();
 * b.close();
 * ```
 */
export function peerCredentials(
  conn: Deno.Conn | DescriptorChannel,
): PeerCredentials {
  const fd = conn instanceof DescriptorChannel ? conn.fd : descriptorOf(conn);
  if (fd === undefined || fd < 0) {
    throw new TypeError(
      "peerCredentials: this connection exposes no descriptor (Deno's own Deno.UnixConn never does); listen with listenUnix from @sockets/net/fd and serve() its connections, whose credentials are known",
    );
  }
  const c = libc("peerCredentials");
  const credentials = new Uint32Array(3);
  const length = new Uint32Array([credentials.byteLength]);
  check(
    c,
    `getsockopt ${fd} SO_PEERCRED`,
    c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, credentials, length),
  );
  const [pid, uid, gid] = credentials;
  return { pid, uid, gid };
}

/**
 * A Unix stream listener whose accepted connections have known
 * descriptors, so that {@linkcode peerCredentials} works on them: serve it
 * with `serve()` from `@sockets/net/server`. The socket file is created at
 * `path`, which must not exist; whoever listens removes it after closing.
 * Needs the same permissions as `Deno.listen` there, besides FFI:
 * `--allow-read`, `--allow-write` and `--allow-net=unix:PATH`.
 *
 * @param path The socket file, at most 107 bytes.
 * @returns The listener.
 *
 * @example Tell each client its own process id
 * ```ts
 * import { listenUnix, peerCredentials } from "@sockets/net/fd";
 * import { serve } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = serve(listenUnix(`${dir}/who.sock`), async (conn) => {
 *   const { pid } = peerCredentials(conn);
 *   await conn.write(new TextEncoder().encode(`${pid}`));
 * });
 * using client = await Deno.connect({
 *   transport: "unix",
 *   path: `${dir}/who.sock`,
 * });
 * assertEquals(await new Response(client.readable).text(), `${Deno.pid}`);
 * ```
 */
export function listenUnix(path: string): Deno.Listener {
  assertSocketPath(path, "path");
  requirePermissions({ op: "listen", network: "unix", address: path }, [
    { name: "read", path },
    { name: "write", path },
    { name: "net", path },
  ]);
  const c = libc(`listen unix ${path}`);
  const fd = check(
    c,
    `listen unix ${path}: socket`,
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
  );
  const address = socketAddress(path);
  if (
    c.bind(fd, address, address.byteLength) < 0 ||
    c.listen(fd, LISTEN_BACKLOG) < 0
  ) {
    const code = errno(c);
    c.close(fd);
    throw osError(`listen unix ${path}`, code);
  }
  return adoptListener(fd, "unix");
}
