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

import { adoptListener, descriptorOf } from "./_adopt.ts";
import {
  check,
  libc,
  SO_PEERCRED,
  socketPairFds,
  SOL_SOCKET,
  unixSocketAt,
} from "./_libc.ts";
import { Descriptor, DescriptorChannel } from "./_descriptor.ts";
import { MAX_DESCRIPTORS, MAX_PAYLOAD_BYTES } from "./_scm.ts";

export {
  Descriptor,
  DescriptorChannel,
  DescriptorFile,
  type DescriptorMessage,
  type ReceiveOptions,
  type Sendable,
} from "./_descriptor.ts";
export type { DescriptorKind } from "./_libc.ts";
export { MAX_DESCRIPTORS, MAX_PAYLOAD_BYTES };

/** The `listen(2)` backlog of {@linkcode listenUnix}: Linux's default `somaxconn` (4096 since 5.4). */
const LISTEN_BACKLOG = 4096;

/**
 * The raw descriptors of a socket pair (`socketpair(2)`, `AF_UNIX`,
 * `SOCK_STREAM`, close-on-exec), each owned by its `Descriptor`.
 *
 * @returns The two connected ends.
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi`.
 *
 * @example Make a pair and tell what its ends are
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
  let first: Deno.Conn | undefined;
  try {
    first = a.toConn();
    return [first, b.toConn()];
  } catch (error) {
    // Each end is closed once: by its conn if it became one, else by its
    // Descriptor (a no-op for one handed on).
    first?.close();
    a.close();
    b.close();
    throw error;
  }
}

/**
 * Who is at the other end of a Unix connection, as the kernel recorded it at connect time.
 *
 * @example This process is the peer of its own pair
 * ```ts
 * import { type PeerCredentials, peerCredentials, socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = socketPair();
 * const peer: PeerCredentials = peerCredentials(a);
 * assertEquals(peer.pid, Deno.pid);
 * assertEquals(peer.uid, Deno.uid());
 * assertEquals(peer.gid, Deno.gid());
 * a.close();
 * b.close();
 * ```
 */
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
 * @throws {TypeError} When `conn` is closed or exposes no descriptor, as a
 * native `Deno.UnixConn` does.
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
      "peerCredentials: this connection is closed or exposes no descriptor (Deno's own Deno.UnixConn never does); listen with listenUnix from @sockets/net/fd and serve() its connections, whose credentials are known",
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
 * The listener's `addr` and its connections' `localAddr` carry `path`, as
 * a native listener's do.
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
  const descriptor = new Descriptor(
    unixSocketAt("listen", path, LISTEN_BACKLOG),
  );
  try {
    const listener = adoptListener(descriptor.fd, "unix", path);
    descriptor.take();
    return listener;
  } finally {
    descriptor.close();
  }
}
