/**
 * Connected UDP: {@linkcode connectUdp} makes a {@linkcode ConnectedUdpSocket}
 * pinned to one peer, as `connect()` does for a UDP socket.
 *
 * @example Talk to one server
 * ```ts
 * import { connectUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp({ hostname: "127.0.0.1", port: 0 }, (data) => data);
 * await using client = await connectUdp(server.addr);
 * await client.send(new TextEncoder().encode("echo?"));
 * assertEquals(new TextDecoder().decode(await client.receive()), "echo?");
 * ```
 *
 * @module
 */

import {
  DEFAULT_CONNECT_HOSTNAME,
  IP_ADDRESS_OPTION_NAMES,
  ipFamily,
  joinHostPort,
} from "./_address.ts";
import { abortable, deadline } from "./_async.ts";
import { bind, familyOf, isLoopback, resolveTarget } from "./_udp.ts";
import {
  assertHostname,
  assertKnownOptions,
  assertRequiredOptions,
  assertSignal,
  assertTimeout,
  assertTransport,
} from "./_validate.ts";
import { resolvePort } from "./services.ts";
import { UdpSocket } from "./udp_socket.ts";

/** The names of {@linkcode ConnectUdpOptions}, for the unknown-option check. */
const CONNECT_UDP_OPTION_NAMES: readonly string[] = [
  ...IP_ADDRESS_OPTION_NAMES,
  "localHostname",
  "localPort",
  "timeout",
  "signal",
];

/**
 * Options of {@linkcode connectUdp}. A server's `addr` is one.
 *
 * @example A DNS server by service name, within two seconds
 * ```ts
 * import type { ConnectUdpOptions } from "@sockets/net/udp";
 *
 * const options: ConnectUdpOptions = {
 *   hostname: "127.0.0.1",
 *   port: "domain",
 *   defaultPort: 53,
 *   timeout: 2_000,
 * };
 * ```
 */
export interface ConnectUdpOptions {
  /**
   * The peer: an IP address or a host name, resolved once (its first
   * address). A wildcard address (`0.0.0.0`, `::`) means this host, as in
   * Go: the loopback address of that family.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The peer's port: a number from 1 to 65535, a numeric string or a service name. */
  port: number | string;
  /**
   * The port to use when `port` is a service name that is not found, as the
   * classic `get_port(service, "udp", default)` does.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
  /**
   * The transport, as in a `Deno.NetAddr`, so that an address such as
   * `server.addr` can be passed as the options; anything but `"udp"` is
   * refused.
   *
   * @default {"udp"}
   */
  transport?: Deno.NetAddr["transport"];
  /**
   * The local address to bind. By default the loopback address of the
   * peer's family when the peer is on this machine (so that
   * `--allow-net=127.0.0.1` is enough), and otherwise every address of that
   * family (`0.0.0.0` or `::`).
   *
   * @default {"127.0.0.1", "::1", "0.0.0.0" or "::"}
   */
  localHostname?: string;
  /**
   * The local port; `0` lets the system pick one.
   *
   * @default {0}
   */
  localPort?: number | string;
  /**
   * Milliseconds for the whole call (the name lookup and the bind);
   * `Infinity` for no limit. On expiry the promise rejects with
   * `Deno.errors.TimedOut`.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * Aborts the call (the name lookup); the promise rejects with the
   * signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * A UDP socket pinned to one peer, as `connect()` makes one: `send` goes to
 * the peer, and `receive` returns only the peer's datagrams, dropping (and
 * counting) the others. Made by {@linkcode connectUdp}.
 *
 * @example Close at the end of a scope
 * ```ts
 * import { connectUdp } from "@sockets/net/udp";
 * import { assert } from "@std/assert";
 *
 * let socket;
 * {
 *   using client = await connectUdp({ hostname: "127.0.0.1", port: 9 });
 *   socket = client;
 * }
 * assert(socket.closed);
 * ```
 */
export class ConnectedUdpSocket
  implements
    AsyncIterable<Uint8Array<ArrayBuffer>>,
    Disposable,
    AsyncDisposable {
  readonly #socket: UdpSocket;
  readonly #peer: Deno.NetAddr;
  #dropped = 0;

  /**
   * Pins `socket` to `peer`; use {@linkcode connectUdp} rather than this
   * constructor.
   *
   * @param socket The bound socket; this object owns it.
   * @param peer The peer's resolved address.
   */
  constructor(socket: UdpSocket, peer: Deno.NetAddr) {
    this.#socket = socket;
    this.#peer = peer;
  }

  /** The local address. */
  get addr(): Deno.NetAddr {
    return this.#socket.addr;
  }

  /** The peer's address, resolved when the socket was made. */
  get remoteAddr(): Deno.NetAddr {
    return this.#peer;
  }

  /** Whether {@linkcode ConnectedUdpSocket.close} has been called. */
  get closed(): boolean {
    return this.#socket.closed;
  }

  /** How many datagrams from other addresses were dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Sends `data` to the peer as one datagram.
   *
   * @param data The payload: at most 65,507 bytes over IPv4, 65,527 over IPv6.
   * @returns The number of bytes sent, as `Deno.DatagramConn.send` gives it.
   * @throws {TypeError} If `data` is not a `Uint8Array`.
   * @throws {RangeError} If `data` is too large.
   * @throws {Deno.errors.BadResource} If the socket is closed.
   *
   * @example Send to the peer
   * ```ts
   * import { connectUdp, listenUdp } from "@sockets/net/udp";
   * import { assertEquals } from "@std/assert";
   *
   * using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * using client = await connectUdp({ hostname: "127.0.0.1", port: server.addr.port });
   * await client.send(new Uint8Array([42]));
   * assertEquals((await server.receive()).data, new Uint8Array([42]));
   * ```
   */
  send(data: Uint8Array): Promise<number> {
    return this.#socket.send(data, this.#peer);
  }

  /**
   * Waits for the next datagram from the peer; datagrams from anyone else
   * are dropped and counted in {@linkcode ConnectedUdpSocket.dropped}.
   *
   * @returns The payload: a copy that is the caller's to keep.
   * @throws {Deno.errors.BadResource} If the socket is closed.
   *
   * @example A round trip
   * ```ts
   * import { connectUdp, listenUdp } from "@sockets/net/udp";
   * import { assertEquals } from "@std/assert";
   *
   * using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * using client = await connectUdp({ hostname: "127.0.0.1", port: server.addr.port });
   * await client.send(new TextEncoder().encode("ping"));
   * const { data, from } = await server.receive();
   * await server.send(data, from);
   * assertEquals(new TextDecoder().decode(await client.receive()), "ping");
   * ```
   */
  async receive(): Promise<Uint8Array<ArrayBuffer>> {
    for (;;) {
      const { data, from } = await this.#socket.receive();
      if (
        from.port === this.#peer.port && from.hostname === this.#peer.hostname
      ) {
        return data;
      }
      this.#dropped++;
    }
  }

  /**
   * Yields the peer's datagrams until the socket is closed.
   *
   * @returns An iterator over the payloads.
   *
   * @example Read until the peer says "bye"
   * ```ts
   * import { connectUdp, listenUdp } from "@sockets/net/udp";
   *
   * using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * using client = await connectUdp({ hostname: "127.0.0.1", port: server.addr.port });
   * for (const word of ["one", "bye"]) {
   *   await server.send(new TextEncoder().encode(word), client.addr);
   * }
   * for await (const data of client) {
   *   if (new TextDecoder().decode(data) === "bye") break;
   * }
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    while (!this.#socket.closed) {
      try {
        yield await this.receive();
      } catch (error) {
        if (this.#socket.closed) return;
        throw error;
      }
    }
  }

  /** Closes the socket; waiting receives reject with `BadResource`. */
  close(): void {
    this.#socket.close();
  }

  /** Closes the socket, for `using`; pending receives reject with `BadResource`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the socket and waits for its pending receives to settle, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#socket[Symbol.asyncDispose]();
  }
}

/**
 * Makes a UDP socket pinned to one peer: resolves the peer once, binds an
 * ephemeral port of the peer's family, and from then on sends only to the
 * peer and returns only its datagrams, as a connected UDP socket does.
 *
 * No packet is sent: UDP has no handshake, so an absent peer shows only as
 * missing answers (see `requestUdp` for retries); the ICMP port unreachable
 * that a kernel-connected socket would report is not seen either.
 *
 * The peer filter runs in the program, not in the kernel: Deno 2.9 offers no
 * connect(2) for UDP (`Deno.listenDatagram` cannot connect, and
 * `node:dgram`'s `connect()` only remembers the peer: it still receives
 * everyone's datagrams). So datagrams from other senders share the socket's
 * receive buffer with the peer's and must be read to be dropped. Under a
 * flood from another sender the buffer stays full and the kernel drops the
 * peer's datagrams too: in `tests/RELIABILITY.md` ("UDP flood against a
 * connected socket"), with 32,000 to 65,000 flood datagrams a second on
 * loopback, this socket got 78.8–99.8% of its peer's 1,000 datagrams over six
 * runs, where a socket connected in the kernel in the same run got all of
 * them. Where a flood is possible, make the protocol tolerate loss (as
 * `requestUdp` does) or raise the socket's receive buffer
 * (`net.core.rmem_default`).
 *
 * It is async because a host name needs a lookup (which `signal` and
 * `timeout` bound); an IP address is used at once.
 *
 * @param options The peer (a server's `addr` will do), the local address,
 * and the deadline.
 * @returns The connected socket.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If a port is invalid, or the local address is of the
 * other family.
 * @throws {Deno.errors.NotFound} If the peer's name has no address.
 * @throws {Deno.errors.TimedOut} If `timeout` passed first.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag.
 *
 * @example Talk to one server
 * ```ts
 * import { connectUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp({ hostname: "127.0.0.1", port: 0 }, (data) => data);
 * await using client = await connectUdp({ hostname: "127.0.0.1", port: server.addr.port });
 * await client.send(new TextEncoder().encode("echo?"));
 * assertEquals(new TextDecoder().decode(await client.receive()), "echo?");
 * ```
 *
 * @example A server listening on every address, dialled by its `addr`
 * ```ts
 * import { connectUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp({ port: 0 }, (data) => data);
 * await using client = await connectUdp(server.addr);
 * assertEquals(client.remoteAddr.hostname, "127.0.0.1");
 * ```
 */
export async function connectUdp(
  options: ConnectUdpOptions,
): Promise<ConnectedUdpSocket> {
  assertRequiredOptions(options, '{ hostname: "127.0.0.1", port: 53 }');
  assertKnownOptions(options, CONNECT_UDP_OPTION_NAMES);
  const {
    transport,
    hostname = DEFAULT_CONNECT_HOSTNAME,
    port,
    defaultPort,
    localHostname: rawLocalHostname,
    localPort: rawLocalPort = 0,
    timeout,
    signal,
  } = options;
  assertTransport(transport, "udp");
  assertTimeout(timeout, "options.timeout");
  assertSignal(signal, "options.signal");
  const localHostname = rawLocalHostname === undefined
    ? undefined
    : assertHostname(rawLocalHostname, "options.localHostname");
  const localPort = resolvePort(rawLocalPort, { protocol: "udp" });
  const localFamily = localHostname === undefined
    ? undefined
    : ipFamily(localHostname);
  using call = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `connect udp ${
          joinHostPort(String(hostname), port as number)
        }: no address within ${timeout} ms; raise options.timeout or check the name service`,
      ),
  );
  call.signal.throwIfAborted();
  const peer = await abortable(
    resolveTarget({ hostname, port }, "options", {
      family: localFamily,
      signal: call.signal,
      defaultPort,
    }),
    call.signal,
  );
  const family = familyOf(peer);
  const bindHostname = localHostname ??
    (isLoopback(peer.hostname)
      ? (family === 4 ? "127.0.0.1" : "::1")
      : (family === 4 ? "0.0.0.0" : "::"));
  const socket = new UdpSocket(bind(bindHostname, localPort));
  if (familyOf(socket.addr) !== family) {
    socket.close();
    throw new RangeError(
      `options.localHostname ${
        JSON.stringify(localHostname)
      } is not of the peer's family (IPv${family}); bind an IPv${family} address`,
    );
  }
  return new ConnectedUdpSocket(socket, peer);
}
