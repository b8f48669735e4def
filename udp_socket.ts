/**
 * The UDP socket: {@linkcode listenUdp} binds a local address and returns a
 * {@linkcode UdpSocket} that sends to and receives from anyone, and joins
 * multicast groups.
 *
 * @example Bind, send and receive
 * ```ts
 * import { listenUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
 * await socket.send(new TextEncoder().encode("to myself"), socket.addr);
 * const { data } = await socket.receive();
 * assertEquals(new TextDecoder().decode(data), "to myself");
 * ```
 *
 * @module
 */

import {
  type IpFamily,
  ipFamily,
  joinHostPort,
  unbracket,
} from "./_address.ts";
import { annotate } from "./_errors.ts";
import {
  assertPayload,
  assertPayloadSize,
  bindOptions,
  closedError,
  familyOf,
  RECEIVE_BUFFER_SIZE,
  resolveTarget,
} from "./_udp.ts";
import {
  assertBoolean,
  assertKnownOptions,
  assertOptions,
  show,
} from "./_validate.ts";

export { MAX_UDP_PAYLOAD_IPV4, MAX_UDP_PAYLOAD_IPV6 } from "./_udp.ts";

/** Idle receive buffers a socket keeps for reuse; more are left to the collector. */
const MAX_POOLED_BUFFERS = 4;

/** The largest IPv4 multicast TTL (an 8-bit field). */
const MAX_MULTICAST_TTL = 255;

/**
 * A datagram and the address it came from, as {@linkcode UdpSocket.receive}
 * returns it.
 *
 * @example Answer the sender
 * ```ts
 * import { listenUdp, type UdpDatagram } from "@sockets/net/udp";
 *
 * using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
 * await socket.send(new Uint8Array([1]), socket.addr);
 * const datagram: UdpDatagram = await socket.receive();
 * await socket.send(datagram.data, datagram.from);
 * ```
 */
export interface UdpDatagram {
  /** The payload: exactly one datagram, never truncated; a copy that is the caller's to keep. */
  data: Uint8Array<ArrayBuffer>;
  /** The sender's address. */
  from: Deno.NetAddr;
}

/**
 * Where a datagram goes: a `Deno.NetAddr` (such as a sender's `from` or a
 * server's `addr`) or any `{ hostname, port }`. A host name is resolved on
 * each send, and its first address of the socket's family is used. A
 * wildcard address (`0.0.0.0`, `::`) means this host, as in Go: the
 * datagram goes to the loopback address of that family.
 *
 * @example A target by name and service
 * ```ts
 * import type { UdpTarget } from "@sockets/net/udp";
 *
 * const dns: UdpTarget = { hostname: "127.0.0.1", port: "domain" };
 * ```
 */
export interface UdpTarget {
  /** An IP address (IPv6 with or without brackets) or a host name. */
  hostname: string;
  /** A port from 1 to 65535, a numeric string or a service name such as `"domain"`. */
  port: number | string;
}

/**
 * Options of {@linkcode listenUdp}.
 *
 * @example A syslog receiver on every address
 * ```ts
 * import type { ListenUdpOptions } from "@sockets/net/udp";
 *
 * const options: ListenUdpOptions = { port: "syslog", defaultPort: 5514 };
 * ```
 */
export interface ListenUdpOptions {
  /**
   * The transport, as in a `Deno.NetAddr`, so that an address can be spread
   * into the options; anything but `"udp"` is refused.
   *
   * @default {"udp"}
   */
  transport?: Deno.NetAddr["transport"];
  /**
   * The local address to bind: an IP address of this machine, a host name,
   * `0.0.0.0` / `::` for every address, or an IPv4 multicast group to
   * receive that group only. The socket's family (IPv4 or IPv6) follows it.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The local port: a number, a numeric string or a service name such as
   * `"syslog"`. `0` lets the system pick a free port; `socket.addr.port`
   * tells which.
   *
   * @default {0}
   */
  port?: number | string;
  /**
   * The port to use when `port` is a service name that is not found, as the
   * classic `get_port(service, "udp", default)` does.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
  /**
   * Sets `SO_REUSEADDR`, so that several sockets (of this or other
   * processes) can bind the same address and port, as multicast receivers
   * do.
   *
   * @default {false}
   */
  reuseAddress?: boolean;
  /**
   * Loops multicast datagrams that this socket sends back to the local
   * machine's members of the group (`IP_MULTICAST_LOOP`).
   *
   * @default {false}
   */
  loopback?: boolean;
}

/**
 * Options of {@linkcode UdpSocket.joinMulticast}.
 *
 * @example Join on the loopback interface
 * ```ts
 * import type { JoinMulticastOptions } from "@sockets/net/udp";
 *
 * const options: JoinMulticastOptions = { interface: "127.0.0.1" };
 * ```
 */
export interface JoinMulticastOptions {
  /**
   * The interface to join on: for IPv4 its address (`"0.0.0.0"` lets the
   * system choose), for IPv6 its index (`0` lets the system choose).
   *
   * @default {"0.0.0.0" or 0}
   */
  interface?: string | number;
}

/**
 * Membership of a multicast group, from {@linkcode UdpSocket.joinMulticast}.
 *
 * @example Keep a group's datagrams on this machine, then leave
 * ```ts
 * import { listenUdp } from "@sockets/net/udp";
 *
 * using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
 * const membership = await socket.joinMulticast("239.255.0.1", {
 *   interface: "127.0.0.1",
 * });
 * await membership.setTTL(0);
 * await membership.leave();
 * ```
 */
export interface MulticastMembership {
  /** The group address. */
  readonly group: string;
  /**
   * Sets how many routers this socket's multicast datagrams may cross
   * (`IP_MULTICAST_TTL`): `0` keeps them on this machine, `1` (the system
   * default) on the local network. IPv4 only: Deno has no IPv6 hop limit.
   */
  setTTL(ttl: number): Promise<void>;
  /** Whether this socket's multicast datagrams loop back to local members of the group. */
  setLoopback(loopback: boolean): Promise<void>;
  /** Leaves the group. Closing the socket leaves every group too. */
  leave(): Promise<void>;
}

/** Whether `address` is a multicast address of `family`. */
function isMulticast(address: string, family: IpFamily): boolean {
  if (family === 6) return /^ff/i.test(address);
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
}

/**
 * A bound UDP socket: sends datagrams to any address and receives them from
 * anyone. Made by {@linkcode listenUdp}.
 *
 * Receiving is async iteration (`for await (const { data, from } of
 * socket)`) or {@linkcode UdpSocket.receive}; several receives may be in
 * flight at once. Closing the socket ends every iteration and rejects the
 * receives that are waiting.
 *
 * @example Receive by iterating until enough datagrams came
 * ```ts
 * import { listenUdp, UdpSocket } from "@sockets/net/udp";
 * import { assertEquals, assertInstanceOf } from "@std/assert";
 *
 * using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
 * assertInstanceOf(socket, UdpSocket);
 * for (const byte of [1, 2, 3]) await socket.send(new Uint8Array([byte]), socket.addr);
 * const received = [];
 * for await (const { data } of socket) {
 *   received.push(data[0]);
 *   if (received.length === 3) break;
 * }
 * assertEquals(received, [1, 2, 3]);
 * ```
 */
export class UdpSocket
  implements AsyncIterable<UdpDatagram>, Disposable, AsyncDisposable {
  readonly #conn: Deno.DatagramConn;
  readonly #addr: Deno.NetAddr;
  readonly #family: IpFamily;
  readonly #buffers: Uint8Array<ArrayBuffer>[] = [];
  readonly #receiving = new Set<Promise<unknown>>();
  #closed = false;

  /**
   * Wraps a bound datagram socket; use {@linkcode listenUdp} rather than
   * this constructor.
   *
   * @param conn A UDP socket from `Deno.listenDatagram`; this object owns it.
   */
  constructor(conn: Deno.DatagramConn) {
    this.#conn = conn;
    this.#addr = conn.addr as Deno.NetAddr;
    this.#family = familyOf(this.#addr);
  }

  /** The bound address; for port 0, `addr.port` is the port the system chose. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** Whether {@linkcode UdpSocket.close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `data` as one datagram to `to`. A host name is resolved first
   * (its first address of the socket's family); a wildcard address
   * (`0.0.0.0`, `::`) means this host's loopback. Resolving when the promise
   * does means the datagram left this socket, not that it arrived.
   *
   * @param data The payload: at most 65,507 bytes over IPv4, 65,527 over IPv6.
   * @param to The destination, such as the `from` of a received datagram.
   * @returns The number of bytes sent, as `Deno.DatagramConn.send` gives it.
   * @throws {TypeError} If `data` is not a `Uint8Array` or `to` is not an address.
   * @throws {RangeError} If `data` is too large, or `to` has an invalid port
   * or an address of the other family.
   * @throws {Deno.errors.NotCapable} Without net permission for `to`; the
   * message names the flag, such as `--allow-net=127.0.0.1:53`.
   * @throws {Deno.errors.BadResource} If the socket is closed.
   *
   * @example Send to a `{ hostname, port }`
   * ```ts
   * import { listenUdp } from "@sockets/net/udp";
   * import { assertEquals } from "@std/assert";
   *
   * using a = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * using b = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * await a.send(new Uint8Array([1, 2, 3]), { hostname: "127.0.0.1", port: b.addr.port });
   * const { data, from } = await b.receive();
   * assertEquals(data, new Uint8Array([1, 2, 3]));
   * assertEquals(from.port, a.addr.port);
   * ```
   */
  async send(data: Uint8Array, to: UdpTarget): Promise<number> {
    assertPayload(data, "data");
    assertPayloadSize(data, this.#family);
    const target = await resolveTarget(to, "to", { family: this.#family });
    if (this.#closed) throw closedError("send", target);
    try {
      return await this.#conn.send(data, target);
    } catch (error) {
      if (this.#closed) throw closedError("send", target);
      throw annotate(error, {
        op: "send",
        network: "udp",
        address: joinHostPort(target.hostname, target.port),
        port: target.port,
      });
    }
  }

  /**
   * Waits for the next datagram.
   *
   * @returns The datagram (a copy sized to it, never truncated, the
   * caller's to keep) and its sender.
   * @throws {Deno.errors.BadResource} If the socket is closed, before or
   * while waiting.
   *
   * @example Receive one datagram
   * ```ts
   * import { listenUdp } from "@sockets/net/udp";
   * import { assertEquals } from "@std/assert";
   *
   * using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * using client = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * await client.send(new TextEncoder().encode("hi"), server.addr);
   * const { data } = await server.receive();
   * assertEquals(new TextDecoder().decode(data), "hi");
   * ```
   */
  receive(): Promise<UdpDatagram> {
    const receiving = this.#receive();
    this.#receiving.add(receiving);
    const forget = () => this.#receiving.delete(receiving);
    receiving.then(forget, forget);
    return receiving;
  }

  async #receive(): Promise<UdpDatagram> {
    if (this.#closed) throw closedError("receive", this.#addr);
    const buffer = this.#buffers.pop() ??
      new Uint8Array(RECEIVE_BUFFER_SIZE);
    try {
      const [view, from] = await this.#conn.receive(buffer);
      return { data: view.slice(), from: from as Deno.NetAddr };
    } catch (error) {
      if (this.#closed) throw closedError("receive", this.#addr);
      throw annotate(error, {
        op: "receive",
        network: "udp",
        address: joinHostPort(this.#addr.hostname, this.#addr.port),
      });
    } finally {
      if (this.#buffers.length < MAX_POOLED_BUFFERS) this.#buffers.push(buffer);
    }
  }

  /**
   * Yields every incoming datagram until the socket is closed.
   *
   * @returns An iterator over the datagrams.
   *
   * @example Read datagrams until a "bye"
   * ```ts
   * import { listenUdp } from "@sockets/net/udp";
   *
   * using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * using client = listenUdp({ hostname: "127.0.0.1", port: 0 });
   * for (const word of ["one", "two", "bye"]) {
   *   await client.send(new TextEncoder().encode(word), server.addr);
   * }
   * for await (const { data } of server) {
   *   if (new TextDecoder().decode(data) === "bye") break;
   * }
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<UdpDatagram> {
    while (!this.#closed) {
      try {
        yield await this.receive();
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
    }
  }

  /**
   * Joins a multicast group, IPv4 or IPv6 as the socket, so that the
   * socket receives the group's datagrams sent to its port.
   *
   * @param group A multicast address: `224.0.0.0/4` or `ff00::/8`.
   * @param options The interface to join on.
   * @returns The membership, to set the TTL and loopback and to leave.
   * @throws {TypeError} If `group` or the interface has the wrong type.
   * @throws {RangeError} If `group` is not a multicast address of the
   * socket's family.
   *
   * @example Receive a group's datagrams on this machine only
   * ```ts
   * import { listenUdp } from "@sockets/net/udp";
   * import { assertEquals } from "@std/assert";
   *
   * const group = "239.255.0.1";
   * using receiver = listenUdp({ hostname: group, port: 0 });
   * await receiver.joinMulticast(group, { interface: "127.0.0.1" });
   *
   * using sender = listenUdp({ hostname: "127.0.0.1", port: 0, loopback: true });
   * const membership = await sender.joinMulticast(group, { interface: "127.0.0.1" });
   * await membership.setTTL(0); // never leaves this machine
   * await sender.send(new TextEncoder().encode("hello, group"), {
   *   hostname: group,
   *   port: receiver.addr.port,
   * });
   * const { data } = await receiver.receive();
   * assertEquals(new TextDecoder().decode(data), "hello, group");
   * ```
   */
  async joinMulticast(
    group: string,
    options: JoinMulticastOptions = {},
  ): Promise<MulticastMembership> {
    assertOptions(options);
    assertKnownOptions(options, ["interface"]);
    if (typeof group !== "string") {
      throw new TypeError(
        `group must be a multicast address such as "239.255.0.1" or "ff15::1", got ${
          show(group)
        }`,
      );
    }
    const address = unbracket(group);
    const family = this.#family;
    if (ipFamily(address) !== family || !isMulticast(address, family)) {
      throw new RangeError(
        `group ${show(group)} is not an IPv${family} multicast address (${
          family === 4 ? "224.0.0.0 to 239.255.255.255" : "ff00::/8"
        }), as the socket bound to ${
          joinHostPort(this.#addr.hostname, this.#addr.port)
        } needs`,
      );
    }
    if (this.#closed) throw closedError("join", this.#addr);
    const where = joinHostPort(address, this.#addr.port);
    const fail = (op: string) => (error: unknown): never => {
      throw annotate(error, { op, network: "udp", address: where });
    };
    if (family === 4) {
      const networkInterface = options.interface ?? "0.0.0.0";
      if (
        typeof networkInterface !== "string" ||
        ipFamily(networkInterface) !== 4
      ) {
        throw new TypeError(
          `options.interface must be the IPv4 address of an interface, such as "127.0.0.1" ("0.0.0.0" lets the system choose), got ${
            show(networkInterface)
          }`,
        );
      }
      const membership = await this.#conn.joinMulticastV4(
        address,
        networkInterface,
      ).catch(fail("join"));
      return {
        group: address,
        setTTL: async (ttl) => {
          if (
            !(Number.isInteger(ttl) && ttl >= 0 && ttl <= MAX_MULTICAST_TTL)
          ) {
            throw new RangeError(
              `ttl must be an integer from 0 to ${MAX_MULTICAST_TTL} (0 keeps datagrams on this machine, 1 on the local network), got ${
                show(ttl)
              }`,
            );
          }
          await membership.setTTL(ttl).catch(fail("set ttl"));
        },
        setLoopback: async (loopback) => {
          assertBoolean(loopback, "loopback");
          await membership.setLoopback(loopback).catch(fail("set loopback"));
        },
        leave: () => membership.leave().catch(fail("leave")),
      };
    }
    const networkInterface = options.interface ?? 0;
    if (
      !(Number.isInteger(networkInterface) && networkInterface as number >= 0)
    ) {
      throw new TypeError(
        `options.interface must be the index of an interface for IPv6 (0 lets the system choose), got ${
          show(networkInterface)
        }`,
      );
    }
    const membership = await this.#conn.joinMulticastV6(
      address,
      networkInterface as number,
    ).catch(fail("join"));
    return {
      group: address,
      setTTL: () =>
        Promise.reject(
          new Deno.errors.NotSupported(
            `set ttl udp ${where}: Deno cannot set the IPv6 multicast hop limit; the system default (1, the local network) applies, and ff01::/16 groups never leave this machine`,
          ),
        ),
      setLoopback: async (loopback) => {
        assertBoolean(loopback, "loopback");
        await membership.setLoopback(loopback).catch(fail("set loopback"));
      },
      leave: () => membership.leave().catch(fail("leave")),
    };
  }

  /**
   * Closes the socket: waiting receives reject with `BadResource` and
   * iterations end. Closing twice does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }

  /** Closes the socket, for `using`; pending receives reject with `BadResource`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the socket and waits for its pending receives to settle, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await Promise.allSettled(this.#receiving);
  }
}

/**
 * Binds a UDP socket: the `socket()` + `bind()` of a UDP server, or of a
 * client that talks to several peers.
 *
 * It is synchronous, as `Deno.listenDatagram` is: binding needs no round
 * trip. An IP address (or the default `0.0.0.0`) is bound as it is; a host
 * name such as `"localhost"` is resolved by the system's resolver inside
 * the bind, blocking until it answers, so prefer IP addresses here.
 *
 * @param options The local address and socket options.
 * @returns The bound socket.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If the port is invalid or an unknown service, or the
 * hostname is empty.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag, such as `--allow-net=127.0.0.1:0`.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 *
 * @example Bind, send and receive
 * ```ts
 * import { listenUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
 * await socket.send(new TextEncoder().encode("to myself"), socket.addr);
 * const { data, from } = await socket.receive();
 * assertEquals(new TextDecoder().decode(data), "to myself");
 * assertEquals(from.port, socket.addr.port);
 * ```
 */
export function listenUdp(options: ListenUdpOptions = {}): UdpSocket {
  return new UdpSocket(bindOptions(options));
}
