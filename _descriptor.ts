/**
 * The descriptors that `@sockets/net/fd` hands out: {@linkcode Descriptor}
 * (an owned raw descriptor), {@linkcode DescriptorFile} (a file or pipe
 * read and written on the one poller) and {@linkcode DescriptorChannel}
 * (messages with descriptors over a Unix socket). Re-exported by `fd.ts`.
 *
 * @module
 */

import { adoptConn, adoptListener, descriptorOf } from "./_adopt.ts";
import {
  closeOnExec,
  closeQuietly,
  type DescriptorKind,
  duplicate,
  EAGAIN,
  EINTR,
  errno,
  familyOf,
  kindOf,
  libc,
  osError,
  POLLIN,
  POLLOUT,
  socketPairFds,
  unixPathOf,
  unixSocketAt,
} from "./_libc.ts";
import { forget, ready } from "./_poller.ts";
import { receiveMessage, sendMessage } from "./_scm.ts";

/** A pipe's atomic write size (`PIPE_BUF`): a write this large never blocks after `POLLOUT`. */
const PIPE_BUF = 4096;

/**
 * An open descriptor this object owns until it is turned into something
 * else ({@linkcode Descriptor.toConn}, {@linkcode Descriptor.toListener},
 * {@linkcode Descriptor.toFile}, {@linkcode Descriptor.toChannel}) or
 * {@linkcode Descriptor.take}n as a raw number, which hands the duty to
 * close it on. Closing it twice, or after it was handed on, does nothing.
 * What it is turned into is close-on-exec, even if it was inherited
 * without the flag.
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
    const c = libc(what);
    const kind = kindOf(c, fd);
    if (!kinds.includes(kind)) {
      throw new TypeError(
        `${what} ${fd}: the descriptor is a ${kind}, not a ${
          kinds.join(" or ")
        }; use ${kind === "listener" ? "toListener()" : "toFile() or take()"}`,
      );
    }
    closeOnExec(c, fd);
    return fd;
  }

  /** Turns a connected stream socket (Unix or TCP) into a `Deno.Conn`, which then owns it. */
  toConn(): Deno.Conn {
    const fd = this.#expect(["stream"], "toConn");
    const c = libc("toConn");
    const family = familyOf(c, fd) ?? "unix";
    // Node cannot tell a Unix socket's paths; getsockname can.
    const conn = adoptConn(
      fd,
      family,
      family === "unix"
        ? {
          local: unixPathOf(c, fd, "local"),
          remote: unixPathOf(c, fd, "remote"),
        }
        : {},
    );
    this.#fd = -1;
    return conn;
  }

  /** Turns a listening stream socket into a `Deno.Listener`, which then owns it. */
  toListener(): Deno.Listener {
    const fd = this.#expect(["listener"], "toListener");
    const c = libc("toListener");
    const family = familyOf(c, fd) ?? "unix";
    const listener = adoptListener(
      fd,
      family,
      family === "unix" ? unixPathOf(c, fd, "local") : undefined,
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

/**
 * A message received on a {@linkcode DescriptorChannel}.
 *
 * @example The payload and the descriptors of one message
 * ```ts
 * import { DescriptorChannel, type DescriptorMessage, socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * using channel = DescriptorChannel.pair();
 * const [here, there] = socketPair();
 * await channel[0].send(new TextEncoder().encode("one"), [there]);
 * there.close();
 * const message: DescriptorMessage | null = await channel[1].receive();
 * assertEquals(new TextDecoder().decode(message!.payload), "one");
 * assertEquals(message!.descriptors.map((d) => d.kind), ["stream"]);
 * for (const descriptor of message!.descriptors) descriptor.close();
 * here.close();
 * ```
 */
export interface DescriptorMessage {
  /** The bytes sent with the descriptors. */
  payload: Uint8Array;
  /** The descriptors, in the order sent, each owned by its `Descriptor` until handed on. */
  descriptors: Descriptor[];
}

/**
 * Options of {@linkcode DescriptorChannel.receive}.
 *
 * @example Stop waiting for a message
 * ```ts
 * import { DescriptorChannel } from "@sockets/net/fd";
 * import { assertRejects } from "@std/assert";
 *
 * using channel = DescriptorChannel.pair();
 * const controller = new AbortController();
 * const waiting = channel[1].receive({ signal: controller.signal });
 * controller.abort(new Error("shutting down"));
 * await assertRejects(() => waiting, Error, "shutting down");
 * ```
 */
export interface ReceiveOptions {
  /**
   * Aborting it ends the wait: the call rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Something whose descriptor can be sent: a raw number, a `Descriptor`, or a conn or listener made by this entry point.
 *
 * @example A conn and a raw descriptor number in one message
 * ```ts
 * import { DescriptorChannel, type Sendable, socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * using channel = DescriptorChannel.pair();
 * const [a, b] = socketPair();
 * const sendables: Sendable[] = [a, 0]; // 0: this process's standard input
 * await channel[0].send(new Uint8Array([1]), sendables);
 * a.close();
 * b.close();
 * const message = await channel[1].receive();
 * assertEquals(message!.descriptors.length, 2);
 * for (const descriptor of message!.descriptors) descriptor.close();
 * ```
 */
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
  /** Why receiving can go on no more: a receive stopped inside a message. */
  #lost: Error | undefined;

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
    return new DescriptorChannel(unixSocketAt("connect", path));
  }

  /**
   * A channel over a Unix connection made or accepted by this entry point
   * ({@linkcode listenUnix}), which must not have been read from: its
   * descriptor is duplicated for the channel, and `conn` is closed.
   *
   * @param conn The connection; closed here.
   * @returns The channel, which owns its own descriptor.
   *
   * @example A control socket that hands out descriptors
   * ```ts
   * import { DescriptorChannel, listenUnix } from "@sockets/net/fd";
   * import { assertEquals } from "@std/assert";
   *
   * const dir = await Deno.makeTempDir();
   * using control = listenUnix(`${dir}/control.sock`);
   * using client = DescriptorChannel.connect(`${dir}/control.sock`);
   * using server = DescriptorChannel.fromConn(await control.accept());
   * await server.send(new TextEncoder().encode("hello"));
   * const message = await client.receive();
   * assertEquals(new TextDecoder().decode(message!.payload), "hello");
   * ```
   */
  static fromConn(conn: Deno.Conn): DescriptorChannel {
    const fd = descriptorOf(conn);
    if (fd === undefined) {
      throw new TypeError(
        "DescriptorChannel.fromConn: this connection is closed or exposes no descriptor (Deno's own never do); pass an open one accepted from listenUnix of @sockets/net/fd",
      );
    }
    const c = libc("DescriptorChannel.fromConn");
    if (familyOf(c, fd) !== "unix") {
      throw new TypeError(
        `DescriptorChannel.fromConn: descriptors pass only over Unix sockets, and ${fd} is not one`,
      );
    }
    const channel = new DescriptorChannel(duplicate(c, fd));
    conn.close();
    return channel;
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
    const fd = this.#descriptor.fd;
    const what = `send unix ${fd}`;
    // Numbers are read when the message goes out, after the sends queued
    // before it: a descriptor closed meanwhile is refused, not sent under
    // a number that may be another file's by then.
    const sent = this.#sending.then(() =>
      sendMessage(
        libc(what),
        this.#fdFor(what),
        payload,
        descriptors.map(numberOf),
        what,
      )
    );
    this.#sending = sent.catch(() => {});
    return sent;
  }

  /**
   * Receives the next message, or `null` when the peer has closed between
   * messages. Truncated control data (`MSG_CTRUNC`) rejects, after closing
   * the descriptors that did arrive. A receive that fails or is aborted
   * inside a message leaves the channel unusable: later receives reject.
   *
   * @param options `signal` ends the wait.
   * @returns The payload and the descriptors, which the caller now owns.
   */
  receive(options: ReceiveOptions = {}): Promise<DescriptorMessage | null> {
    const what = `receive unix ${this.#descriptor.fd}`;
    const received = this.#receiving.then(async () => {
      if (this.#lost !== undefined) throw this.#lost;
      const progress = { bytes: 0 };
      let raw;
      try {
        raw = await receiveMessage(
          libc(what),
          this.#fdFor(what),
          what,
          options.signal,
          progress,
        );
      } catch (error) {
        // The rest of that message would be read as the next one's header.
        if (progress.bytes > 0) {
          this.#lost = new Deno.errors.InvalidData(
            `${what}: an earlier receive stopped after ${progress.bytes} bytes of a message, so where the next message starts is unknown; close it and open a new channel`,
            { cause: error },
          );
        }
        throw error;
      }
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
  if (item instanceof Descriptor) {
    if (item.fd < 0) {
      throw new TypeError(
        `descriptors[${index}]: the Descriptor was closed or handed on; send it before closing it, or send what it was turned into`,
      );
    }
    return item.fd;
  }
  const fd = descriptorOf(item);
  if (fd === undefined) {
    throw new TypeError(
      `descriptors[${index}]: the connection or listener is closed, or is Deno's own, which does not expose its descriptor; send an open one made by @sockets/net/fd (socketPair, listenUnix, or received)`,
    );
  }
  return fd;
}
