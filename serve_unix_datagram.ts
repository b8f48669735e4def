// The Unix datagram server: a socket file made safely, served by the one
// datagram engine (`datagram_server.ts`), as `serveUnix` is by `serve()`.

import { assertRulesApply, ruleGate } from "./_rules.ts";
import { requireUnstableNet } from "./_errors.ts";
import {
  assertServeDatagramsOptions,
  SERVE_DATAGRAMS_OPTION_NAMES,
} from "./_lifecycle.ts";
import {
  assertMode,
  assertPathOptions,
  assertPrivatePathFits,
  assertSocketPath,
  bindDatagram,
  bindPrivately,
  clearStaleSocket,
  DATAGRAM,
  type FileIdentity,
  type PathPermission,
  privateBindPermissions,
  removeIfSame,
  requirePermissions,
  senderOf,
} from "./_socket_file.ts";
import { assertBoolean, assertFunction } from "./_validate.ts";
import {
  type DatagramHandler,
  DatagramServer,
  type ServeDatagramsOptions,
} from "./datagram_server.ts";

/**
 * Options of {@linkcode serveUnixDatagram}: the socket file, and every option
 * of the datagram-server engine.
 *
 * @example An owner-only server that answers one datagram at a time
 * ```ts
 * import { connectUnixDatagram, serveUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnixDatagram(
 *   { path: `${dir}/echo.sock`, mode: 0o600, removeStale: true, maxConcurrency: 1 },
 *   (data) => data,
 * );
 * using client = await connectUnixDatagram(server.addr.path);
 * await client.send(new Uint8Array([7]));
 * assertEquals(await client.receive(), new Uint8Array([7]));
 * ```
 */
export interface ServeUnixDatagramOptions
  extends ServeDatagramsOptions<Deno.UnixAddr> {
  /**
   * Path of the socket file, at most 107 bytes (`sun_path`), or a Linux
   * abstract name (`"\0name"`: no file, needs a bare `--allow-net`).
   */
  path: string;
  /**
   * Permission bits of the socket file, such as `0o600` (owner only) or
   * `0o660` (owner and group): sending to it needs write permission on the
   * file. The file never exists with a wider mode, not even briefly: it is
   * bound in a private directory `DIR/.NAME` (mode 0700) and linked into
   * place, so the kernel knows the server by that private name, which is
   * what its answers carry as their sender's path.
   *
   * @default {0o777 minus the process umask}
   */
  mode?: number;
  /**
   * Remove a stale socket file (one that no socket answers, as a crashed
   * server leaves) before binding. When `false`, a stale file is an error.
   * A live socket, and anything that is not a socket, are never removed.
   *
   * @default {true}
   */
  removeStale?: boolean;
}

/** The options of {@linkcode serveUnixDatagram} that are not the engine's. */
const SOCKET_FILE_OPTION_NAMES = ["path", "mode", "removeStale"];

/**
 * The socket the engine serves from: it reports the socket path as its
 * address, gives a sender bound to no path as `path: ""`, and on close
 * removes the socket file if it is still the one it created.
 */
class SocketFileDatagramConn implements Deno.DatagramConn {
  readonly #socket: Deno.DatagramConn;
  readonly #identity: FileIdentity;
  readonly addr: Deno.UnixAddr;
  #closed = false;

  constructor(socket: Deno.DatagramConn, path: string, identity: FileIdentity) {
    this.#socket = socket;
    this.#identity = identity;
    this.addr = { transport: DATAGRAM, path };
  }

  async receive(
    buffer?: Uint8Array,
  ): Promise<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    const [data, from] = await this.#socket.receive(buffer);
    return [data, senderOf(from)];
  }

  send(data: Uint8Array, to: Deno.Addr): Promise<number> {
    return this.#socket.send(data, to);
  }

  close(): void {
    if (!this.#closed) {
      this.#closed = true;
      removeIfSame(this.addr.path, this.#identity);
    }
    this.#socket.close();
  }

  joinMulticastV4(): Promise<Deno.MulticastV4Membership> {
    return Promise.reject(
      new Deno.errors.NotSupported("Unix datagram sockets have no multicast"),
    );
  }

  joinMulticastV6(): Promise<Deno.MulticastV6Membership> {
    return Promise.reject(
      new Deno.errors.NotSupported("Unix datagram sockets have no multicast"),
    );
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<
    [Uint8Array<ArrayBuffer>, Deno.Addr]
  > {
    for await (const [data, from] of this.#socket) {
      yield [data, senderOf(from)];
    }
  }
}

/** A reply cannot go to a sender bound to no path: say so, rather than fail in `sendto`. */
function checkReply(_reply: Uint8Array, to: Deno.UnixAddr): void {
  if (to.path === "") {
    throw new Deno.errors.NotConnected(
      `send ${DATAGRAM} (unnamed): the sender is bound to no path, so no reply can reach it; return nothing for datagrams whose from.path is ""`,
    );
  }
}

/**
 * Serves datagrams on a Unix datagram socket (SOCK_DGRAM, Deno's
 * `unixpacket` transport), on the module's datagram-server engine (see
 * `serveDatagrams` in `@sockets/net/server`): every engine option works, and
 * what the handler returns is sent back to the sender.
 *
 * It is async because it touches the file system, as `serveUnix` does: a
 * stale socket file at the path is removed first; a live socket, or a file
 * that is not a socket, makes it fail instead. With `mode`, the socket is
 * bound in a private directory next to the path, given its mode there, and
 * linked into place. When the server finishes, the file is removed if it is
 * still the one it created.
 *
 * A sender bound to no path (`from.path === ""`) cannot be answered: a reply
 * to it is reported to `onError`. Answering clients needs `--allow-net=unix:`
 * for each client path, or `--allow-net` for clients with fresh private
 * paths such as `connectUnixDatagram`'s default.
 *
 * Needs `--unstable-net`, and `--allow-read`, `--allow-write` and
 * `--allow-net=unix:PATH` on the path; with `mode`, also `--allow-read` and
 * `--allow-write` on `DIR/.NAME` and `--allow-net=unix:DIR/.NAME/s`. A denial
 * names the flags.
 *
 * @param options The socket path, its mode, and the engine's options.
 * @param handler Called with each datagram, its sender and a context; what
 * it returns (or resolves to) is sent back.
 * @returns The running server; `server.addr.path` is the socket path.
 * @throws {TypeError} If an argument or option has the wrong type, or an
 * option name is unknown.
 * @throws {RangeError} If the path is empty or too long for `sun_path` (107
 * bytes; 104 with `mode`), or a number option is out of range.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} If a permission is missing; the message
 * names the flags.
 * @throws {Deno.errors.NotFound} If the path's directory does not exist.
 * @throws {Deno.errors.AddrInUse} If a live socket owns the path, or a stale
 * one is there and `removeStale` is `false`.
 * @throws {Deno.errors.AlreadyExists} If the path is a file that is not a socket.
 *
 * @example An uppercasing server, owner only
 * ```ts
 * import { connectUnixDatagram, serveUnixDatagram } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const encoder = new TextEncoder();
 * const decoder = new TextDecoder();
 * await using server = await serveUnixDatagram(
 *   { path: `${dir}/upper.sock`, mode: 0o600 },
 *   (data) => encoder.encode(decoder.decode(data).toUpperCase()),
 * );
 *
 * using client = await connectUnixDatagram(server.addr.path);
 * await client.send(encoder.encode("hi"));
 * assertEquals(decoder.decode(await client.receive()), "HI");
 * ```
 */
export async function serveUnixDatagram(
  options: ServeUnixDatagramOptions,
  handler: DatagramHandler<Deno.UnixAddr>,
): Promise<DatagramServer<Deno.UnixAddr>> {
  assertPathOptions(options, "options");
  assertServeDatagramsOptions(options, [
    ...SERVE_DATAGRAMS_OPTION_NAMES,
    ...SOCKET_FILE_OPTION_NAMES,
  ]);
  const { path, mode, removeStale = true, ...serveOptions } = options;
  assertSocketPath(path, "options.path");
  assertMode(mode, path);
  assertBoolean(removeStale, "options.removeStale");
  assertFunction(
    handler,
    "handler",
    "(data, from, context) => reply | undefined",
  );
  assertRulesApply(
    ruleGate(serveOptions),
    { transport: DATAGRAM, path },
    false,
  );
  requireUnstableNet(`listen ${DATAGRAM} ${path}`);
  if (mode !== undefined) assertPrivatePathFits(path, "a server with a mode");
  const context = { op: "listen", network: DATAGRAM };
  const permissions: PathPermission[] = mode === undefined
    ? [
      { name: "read", path },
      { name: "write", path },
      { name: "net", path },
    ]
    : privateBindPermissions(path);
  requirePermissions({ ...context, address: path }, permissions);
  await clearStaleSocket(path, removeStale, context);
  const { socket, identity } = mode === undefined
    ? bindDatagram(path, "listen")
    : await bindPrivately(
      path,
      mode,
      removeStale,
      context,
      (privatePath) =>
        Deno.listenDatagram({ transport: DATAGRAM, path: privatePath }),
    );
  const placed = new SocketFileDatagramConn(socket, path, identity);
  // The engine closes the socket itself when onListen throws.
  return new DatagramServer<Deno.UnixAddr>(
    placed,
    handler,
    serveOptions,
    checkReply,
  );
}
