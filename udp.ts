/**
 * UDP sockets, servers and clients, on `Deno.listenDatagram`.
 *
 * UDP is the classic tutorial's datagram transport: a server binds a port,
 * `send` is `sendto()`, `receive` is `recvfrom()`, and `connect` pins one
 * peer. Each send is one datagram and each receive returns one whole
 * datagram, but nothing guarantees delivery, order or pacing: a datagram may
 * be lost, duplicated or reordered, and a fast sender can overrun a slow
 * receiver. The functions here map onto those facts:
 *
 * - {@linkcode listenUdp}: a socket bound to a local address, to send to and
 *   receive from anyone, with multicast membership;
 * - {@linkcode connectUdp}: a socket pinned to one peer, which drops (and
 *   counts) datagrams from anyone else, as a connected UDP socket does;
 * - {@linkcode serveUdp}: the datagram server loop, with bounded concurrency
 *   and a graceful shutdown, whose handler returns the reply;
 * - {@linkcode requestUdp}: the client that an unreliable transport needs,
 *   which sends, waits, and retries with exponential backoff.
 *
 * Sizes: a payload may carry at most {@linkcode MAX_UDP_PAYLOAD_IPV4}
 * (65,507) bytes over IPv4 and {@linkcode MAX_UDP_PAYLOAD_IPV6} (65,527)
 * over IPv6; larger ones are refused with a `RangeError` before anything is
 * sent. Every receive uses a 65,536-byte buffer, larger than any UDP payload,
 * so a datagram is never silently truncated. (Deno's own default receive
 * buffer is 65,507 bytes, which cuts large IPv6 datagrams short.)
 *
 * Performance (measured with the repository's `bench/`, 64-byte ping-pong
 * on 2 cores): a loop with one receive in flight reads one datagram per turn
 * of the event loop, where Node's libuv reads a batch per wakeup, so it falls
 * behind `dgram` under load; but every receive in flight is woken for each
 * datagram, so when datagrams come one at a time each extra one is a wasted
 * system call (16 in flight halved a one-client server's rate).
 * {@linkcode serveUdp} keeps between one and `maxConcurrency` receives in
 * flight, following the load: with 16 clients it made 1.14× a raw
 * `Deno.listenDatagram` loop and 1.14× Node, with one client 0.96× the raw
 * loop. Several sockets sharing the port with `reuseAddress` gained nothing
 * over several receives on one.
 *
 * Permissions: UDP needs `--unstable-net` in Deno 2 (its absence is reported
 * as such) and `--allow-net` for the local address bound (port 0 included,
 * e.g. `--allow-net=127.0.0.1:0` or `--allow-net=127.0.0.1`) and for every
 * destination (`--allow-net=127.0.0.1:5353`).
 *
 * @example An echo server and a request with retries
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp(
 *   { hostname: "127.0.0.1", port: 0 },
 *   (data) => data,
 * );
 * const reply = await requestUdp(
 *   new TextEncoder().encode("ping"),
 *   server.addr,
 *   { timeout: 500, retries: 3 },
 * );
 * assertEquals(new TextDecoder().decode(reply), "ping");
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
  assertBoolean,
  assertCount,
  assertFunction,
  assertHostname,
  assertMilliseconds,
  assertOptions,
  assertSignal,
  show,
} from "./_validate.ts";
import { ReceiveWindow } from "./_receive_window.ts";
import { lookupHost } from "./resolve.ts";
import { resolvePort } from "./services.ts";

/**
 * The largest UDP payload over IPv4: 65,535 bytes (the IPv4 total length
 * limit) minus the 20-byte IPv4 header and the 8-byte UDP header.
 */
export const MAX_UDP_PAYLOAD_IPV4 = 65_507;

/**
 * The largest UDP payload over IPv6 without jumbograms: 65,535 bytes (the
 * IPv6 payload length limit, which excludes the IPv6 header) minus the 8-byte
 * UDP header.
 */
export const MAX_UDP_PAYLOAD_IPV6 = 65_527;

/**
 * Every receive buffer: 64 KiB, more than the largest UDP payload
 * ({@linkcode MAX_UDP_PAYLOAD_IPV6}), so no datagram is truncated.
 */
const RECEIVE_BUFFER_SIZE = 65_536;

/** Idle receive buffers a socket keeps for reuse; more are left to the collector. */
const MAX_POOLED_BUFFERS = 4;

/** The hostname of `Deno.listenDatagram`, and of the classic server's `INADDR_ANY`. */
const DEFAULT_LISTEN_HOSTNAME = "0.0.0.0";

/** The hostname a client sends to when none is given, as for `Deno.connect`. */
const DEFAULT_CONNECT_HOSTNAME = "127.0.0.1";

/**
 * Handlers that `serveUdp` runs at once by default, and receives in flight
 * under load, so a burst is read while earlier handlers still run. Each
 * worker allocates its 64 KiB receive buffer when it first receives (1 MiB
 * for all 16).
 */
const DEFAULT_MAX_CONCURRENCY = 16;

/** Time given to handlers at shutdown before the socket is closed, as for the stream servers. */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** First pause after a receive error, as the stream servers' accept backoff (Go's `net/http`). */
const RECEIVE_BACKOFF_MIN_MS = 5;

/** Longest pause between receive retries, as the stream servers' accept backoff. */
const RECEIVE_BACKOFF_MAX_MS = 1_000;

/**
 * First wait for an answer: RFC 8085 section 3.1.3 asks for at least one
 * second before a retransmission when no round-trip time is known, as TCP's
 * initial timeout (RFC 6298).
 */
const DEFAULT_REQUEST_TIMEOUT_MS = 1_000;

/** Retransmissions after the first send: four attempts, 15 s at worst with the default timeout and backoff. */
const DEFAULT_RETRIES = 3;

/** Each wait is this many times the previous one: the doubling of RFC 6298 section 5.5 and RFC 8085 section 3.1.3. */
const DEFAULT_BACKOFF = 2;

/** The largest IPv4 multicast TTL (an 8-bit field). */
const MAX_MULTICAST_TTL = 255;

/** A datagram and the address it came from. */
export interface UdpDatagram {
  /** The payload: exactly one datagram, never truncated. */
  data: Uint8Array<ArrayBuffer>;
  /** The sender's address. */
  from: Deno.NetAddr;
}

/**
 * Where a datagram goes: a `Deno.NetAddr` (such as a sender's `from`) or any
 * `{ hostname, port }`. A host name is resolved on each send, and its first
 * address of the socket's family is used.
 */
export interface UdpTarget {
  /** An IP address (IPv6 with or without brackets) or a host name. */
  hostname: string;
  /** A port from 1 to 65535, a numeric string or a service name such as `"domain"`. */
  port: number | string;
}

/** Options of {@linkcode listenUdp}. */
export interface ListenUdpOptions {
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

/** Options of {@linkcode UdpSocket.joinMulticast}. */
export interface JoinMulticastOptions {
  /**
   * The interface to join on: for IPv4 its address (`"0.0.0.0"` lets the
   * system choose), for IPv6 its index (`0` lets the system choose).
   *
   * @default {"0.0.0.0" or 0}
   */
  interface?: string | number;
}

/** Membership of a multicast group, from {@linkcode UdpSocket.joinMulticast}. */
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

/** `Deno.listenDatagram` exists only under `--unstable-net`. */
function hasUnstableNet(): boolean {
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram ===
    "function";
}

function assertPayload(
  data: unknown,
  name: string,
): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(
      `${name} must be a Uint8Array (e.g. new TextEncoder().encode("hello")), got ${
        show(data)
      }`,
    );
  }
}

/** The largest payload that a socket of `family` may send. */
function maxPayload(family: IpFamily): number {
  return family === 4 ? MAX_UDP_PAYLOAD_IPV4 : MAX_UDP_PAYLOAD_IPV6;
}

function assertPayloadSize(data: Uint8Array, family: IpFamily): void {
  const limit = maxPayload(family);
  if (data.byteLength > limit) {
    throw new RangeError(
      `data is ${data.byteLength} bytes, more than the ${limit} bytes a UDP datagram carries over IPv${family}; split it into several datagrams or use TCP`,
    );
  }
}

/** A destination port: 0 is a valid port to bind, but no datagram can go to it. */
function resolveTargetPort(port: unknown, name: string): number {
  const number = resolvePort(port as number | string, { protocol: "udp" });
  if (number === 0) {
    throw new RangeError(
      `${name} must be from 1 to 65535 to send to, got 0 (port 0 only asks the system for a free port when binding)`,
    );
  }
  return number;
}

/** The canonical text of an IP literal, as the system reports addresses (`::1` for `0:0:0:0:0:0:0:1`). */
function canonicalIp(address: string): string {
  if (ipFamily(address) !== 6 || address.includes("%")) return address;
  // URL parsing serializes IPv6 addresses in RFC 5952's canonical form.
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || canonicalIp(address) === "::1";
}

function isMulticast(address: string, family: IpFamily): boolean {
  if (family === 6) return /^ff/i.test(address);
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
}

/** The family of a bound address; Deno reports IP literals. */
function familyOf(addr: Deno.NetAddr): IpFamily {
  return ipFamily(addr.hostname) ?? 4;
}

function noUnstableNet(op: string, address: string): Error {
  return new Deno.errors.NotSupported(
    `${op} udp ${address}: UDP needs Deno's unstable net API (Deno.listenDatagram); run again with --unstable-net`,
  );
}

function closedError(op: string, addr: Deno.NetAddr): Error {
  return new Deno.errors.BadResource(
    `${op} udp ${joinHostPort(addr.hostname, addr.port)}: the socket is closed`,
  );
}

/**
 * Resolves a target to an IP address of `family` (the first one the
 * resolver gives) and a port, validating both.
 */
async function resolveTarget(
  to: unknown,
  family: IpFamily | undefined,
  name: string,
  signal?: AbortSignal,
): Promise<Deno.NetAddr> {
  if (to === null || typeof to !== "object") {
    throw new TypeError(
      `${name} must be an address such as { hostname: "127.0.0.1", port: 53 }, got ${
        show(to)
      }`,
    );
  }
  const target = to as Partial<UdpTarget>;
  const hostname = assertHostname(target.hostname, `${name}.hostname`);
  const port = resolveTargetPort(target.port, `${name}.port`);
  const literal = ipFamily(hostname);
  if (literal !== undefined) {
    if (family !== undefined && literal !== family) {
      throw new RangeError(
        `${name}.hostname ${
          show(hostname)
        } is an IPv${literal} address, but the socket is IPv${family}; send to an IPv${family} address, or bind the socket to ${
          literal === 4 ? '"0.0.0.0"' : '"::"'
        } for IPv${literal}`,
      );
    }
    return { transport: "udp", hostname: canonicalIp(hostname), port };
  }
  const addresses = await lookupHost(hostname, { signal });
  const address = family === undefined
    ? addresses[0]
    : addresses.find((address) => ipFamily(address) === family);
  if (address === undefined) {
    throw new Deno.errors.NotFound(
      `lookup ${hostname}: no IPv${family} address (found ${
        addresses.join(", ")
      }); bind the socket to ${
        family === 4 ? '"::"' : '"0.0.0.0"'
      } to reach it over IPv${family === 4 ? 6 : 4}`,
    );
  }
  return { transport: "udp", hostname: canonicalIp(address), port };
}

/** Binds a datagram socket, rewriting errors to name the address and the fix. */
function bind(
  hostname: string,
  port: number,
  reuseAddress: boolean,
  loopback: boolean,
): Deno.DatagramConn {
  const address = joinHostPort(hostname, port);
  if (!hasUnstableNet()) throw noUnstableNet("listen", address);
  try {
    return Deno.listenDatagram({
      hostname,
      port,
      transport: "udp",
      reuseAddress,
      loopback,
    });
  } catch (error) {
    throw annotate(error, { op: "listen", network: "udp", address, port });
  }
}

/**
 * A bound UDP socket: sends datagrams to any address and receives them from
 * anyone. Made by {@linkcode listenUdp}.
 *
 * Receiving is async iteration (`for await (const { data, from } of
 * socket)`) or {@linkcode UdpSocket.receive}; several receives may be in
 * flight at once. Closing the socket ends every iteration and rejects the
 * receives that are waiting.
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
   * (its first address of the socket's family). Resolving when the promise
   * does means the datagram left this socket, not that it arrived.
   *
   * @param data The payload: at most 65,507 bytes over IPv4, 65,527 over IPv6.
   * @param to The destination, such as the `from` of a received datagram.
   * @returns A promise that resolves once the datagram is sent.
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
  async send(data: Uint8Array, to: UdpTarget): Promise<void> {
    assertPayload(data, "data");
    assertPayloadSize(data, this.#family);
    const target = await resolveTarget(to, this.#family, "to");
    if (this.#closed) throw closedError("send", target);
    try {
      await this.#conn.send(data, target);
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
   * @returns The datagram (a copy sized to it, never truncated) and its sender.
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

  /** Closes the socket, for `using`. */
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

/** Validates the local address options, then binds. */
function bindOptions(options: ListenUdpOptions): Deno.DatagramConn {
  assertOptions(options);
  const {
    hostname: rawHostname = DEFAULT_LISTEN_HOSTNAME,
    port: rawPort = 0,
    reuseAddress = false,
    loopback = false,
  } = options;
  const hostname = assertHostname(rawHostname, "options.hostname");
  const port = resolvePort(rawPort, { protocol: "udp" });
  assertBoolean(reuseAddress, "options.reuseAddress");
  assertBoolean(loopback, "options.loopback");
  return bind(hostname, port, reuseAddress, loopback);
}

/** Options of {@linkcode connectUdp}. */
export interface ConnectUdpOptions {
  /**
   * The peer: an IP address or a host name, resolved once (its first
   * address).
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** The peer's port: a number from 1 to 65535, a numeric string or a service name. */
  port: number | string;
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
   * Aborts the name lookup.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * A UDP socket pinned to one peer, as `connect()` makes one: `send` goes to
 * the peer, and `receive` returns only the peer's datagrams, dropping (and
 * counting) the others. Made by {@linkcode connectUdp}.
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

  /** How many datagrams from other addresses were dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Sends `data` to the peer as one datagram.
   *
   * @param data The payload: at most 65,507 bytes over IPv4, 65,527 over IPv6.
   * @returns A promise that resolves once the datagram is sent.
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
  async send(data: Uint8Array): Promise<void> {
    await this.#socket.send(data, this.#peer);
  }

  /**
   * Waits for the next datagram from the peer; datagrams from anyone else
   * are dropped and counted in {@linkcode ConnectedUdpSocket.dropped}.
   *
   * @returns The payload.
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

  /** Closes the socket, for `using`. */
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
 * missing answers (see {@linkcode requestUdp} for retries).
 *
 * @param options The peer, and the local address.
 * @returns The connected socket.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If a port is invalid, or the local address is of the
 * other family.
 * @throws {Deno.errors.NotFound} If the peer's name has no address.
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
 */
export async function connectUdp(
  options: ConnectUdpOptions,
): Promise<ConnectedUdpSocket> {
  assertOptions(options);
  if (options === undefined) {
    throw new TypeError(
      'options must be an object such as { hostname: "127.0.0.1", port: 53 }, got undefined',
    );
  }
  const {
    hostname = DEFAULT_CONNECT_HOSTNAME,
    port,
    localHostname: rawLocalHostname,
    localPort: rawLocalPort = 0,
    signal,
  } = options;
  assertSignal(signal, "options.signal");
  const localHostname = rawLocalHostname === undefined
    ? undefined
    : assertHostname(rawLocalHostname, "options.localHostname");
  const localPort = resolvePort(rawLocalPort, { protocol: "udp" });
  const localFamily = localHostname === undefined
    ? undefined
    : ipFamily(localHostname);
  signal?.throwIfAborted();
  const peer = await resolveTarget(
    { hostname, port },
    localFamily,
    "options",
  );
  const family = familyOf(peer);
  const bindHostname = localHostname ??
    (isLoopback(peer.hostname)
      ? (family === 4 ? "127.0.0.1" : "::1")
      : (family === 4 ? "0.0.0.0" : "::"));
  const socket = new UdpSocket(bind(bindHostname, localPort, false, false));
  if (familyOf(socket.addr) !== family) {
    socket.close();
    throw new RangeError(
      `options.localHostname ${
        show(localHostname)
      } is not of the peer's family (IPv${family}); bind an IPv${family} address`,
    );
  }
  return new ConnectedUdpSocket(socket, peer);
}

/**
 * What a datagram handler returns: a reply, sent back to the sender, or
 * nothing.
 */
export type UdpReply = Uint8Array | null | undefined | void;

/**
 * A datagram handler of {@linkcode serveUdp}.
 *
 * `data` is a view of the worker's receive buffer, valid until the handler
 * settles (returning it as the reply is fine); copy it with `data.slice()`
 * to keep it longer.
 */
export type UdpHandler = (
  data: Uint8Array<ArrayBuffer>,
  from: Deno.NetAddr,
) => UdpReply | Promise<UdpReply>;

/** Options of {@linkcode serveUdp}. */
export interface ServeUdpOptions extends ListenUdpOptions {
  /**
   * The most handlers running at once, and the most receives in flight
   * (how many are in flight follows the load), each with its own 64 KiB
   * buffer. At the limit, datagrams wait in the socket's receive buffer, and
   * the kernel drops them when it is full, as UDP does. `1` makes an
   * iterative server.
   *
   * @default {16}
   */
  maxConcurrency?: number;
  /**
   * Aborting this signal shuts the server down gracefully, as
   * {@linkcode UdpServer.shutdown} does.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Milliseconds that a shutdown waits for running handlers before it closes
   * the socket (their replies are then lost).
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * Called with every handler failure, reply failure and receive error,
   * with the sender when there is one; the server keeps serving.
   *
   * @default {logs the error and the sender to the console}
   */
  onError?: (error: unknown, from?: Deno.NetAddr) => void;
  /**
   * Called once with the bound address, before the first receive.
   *
   * @default {undefined}
   */
  onListen?: (addr: Deno.NetAddr) => void;
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === "function";
}

function reportError(error: unknown, from?: Deno.NetAddr): void {
  const peer = from === undefined
    ? ""
    : ` (${joinHostPort(from.hostname, from.port)})`;
  console.error(`@sockets/net udp server error${peer}:`, error);
}

/**
 * A running UDP server, from {@linkcode serveUdp}: the datagram counterpart
 * of the stream servers' `Server`.
 */
export class UdpServer implements AsyncDisposable {
  readonly #conn: Deno.DatagramConn;
  readonly #addr: Deno.NetAddr;
  readonly #handler: UdpHandler;
  readonly #family: IpFamily;
  readonly #shutdownTimeout: number;
  readonly #onError: (error: unknown, from?: Deno.NetAddr) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #finished: Promise<void>;
  #stopping = false;
  #closed = false;
  #busy = 0;
  #drained: (() => void) | undefined;
  #shutdown: Promise<void> | undefined;
  readonly #pauses = new Set<() => void>();
  readonly #receives: ReceiveWindow;
  /** Idle workers; waking one with `true` hands it a receive to post. */
  readonly #parked: ((receive: boolean) => void)[] = [];

  /**
   * Starts serving; use {@linkcode serveUdp} rather than this constructor.
   *
   * @param conn The bound UDP socket; the server owns it from now on.
   * @param handler Runs for each datagram.
   * @param options Server options.
   */
  constructor(
    conn: Deno.DatagramConn,
    handler: UdpHandler,
    options: Omit<ServeUdpOptions, keyof ListenUdpOptions>,
  ) {
    this.#conn = conn;
    this.#addr = conn.addr as Deno.NetAddr;
    this.#handler = handler;
    this.#family = familyOf(this.#addr);
    this.#shutdownTimeout = options.shutdownTimeout ??
      DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.#onError = options.onError ?? reportError;
    this.#signal = options.signal;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    try {
      options.onListen?.(this.#addr);
    } catch (error) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#close();
      throw error;
    }
    const maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    // Unbounded would mean unbounded buffers, one per receive in flight:
    // Infinity gets the default.
    const workers = Number.isFinite(maxConcurrency)
      ? maxConcurrency
      : DEFAULT_MAX_CONCURRENCY;
    this.#receives = new ReceiveWindow(workers, this.#wakeReceivers);
    this.#finished = Promise.all(
      Array.from({ length: workers }, () => this.#work()),
    ).then(() => {
      this.#stopping = true;
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#close();
    });
    if (this.#signal?.aborted) this.shutdown();
  }

  /** The address the server is bound to; for port 0, `addr.port` is the port the system chose. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** How many handlers are running now. */
  get busy(): number {
    return this.#busy;
  }

  /** Resolves when the server has stopped: socket closed, no handler left. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  /**
   * Stops taking datagrams, waits up to `shutdownTimeout` for running
   * handlers to reply, then closes the socket. Calling it again returns the
   * same promise.
   *
   * @returns A promise that resolves when the server has fully stopped.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  /** Shuts the server down, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  #onAbort = (): void => {
    this.shutdown();
  };

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#conn.close();
  }

  #report(error: unknown, from?: Deno.NetAddr): void {
    try {
      this.#onError(error, from);
    } catch (onErrorFailure) {
      // A throwing onError must not stop the server either.
      reportError(onErrorFailure, from);
    }
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const wake of this.#pauses) wake();
    for (const wake of this.#parked.splice(0)) wake(false);
    if (this.#busy > 0) {
      const drained = new Promise<void>((resolve) => this.#drained = resolve);
      let deadline: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<void>((resolve) => {
        deadline = setTimeout(resolve, this.#shutdownTimeout);
      });
      await Promise.race([drained, timedOut]);
      clearTimeout(deadline);
    }
    // The idle workers wait in receive(): closing the socket ends them.
    this.#close();
    await this.#finished;
  }

  /**
   * One worker: a receive into its own buffer, then the handler and its
   * reply, then the next receive, or a rest while the socket already has as
   * many receives in flight as the load needs (see `_receive_window.ts`). The
   * buffer is reused, so the hot path allocates nothing of its own, and a
   * worker that never receives never allocates it.
   */
  async #work(): Promise<void> {
    let buffer: Uint8Array<ArrayBuffer> | undefined;
    let backoff = 0;
    while (!this.#stopping) {
      if (this.#receives.hasRoom) this.#receives.posted();
      else if (!await this.#park()) return;
      buffer ??= new Uint8Array(RECEIVE_BUFFER_SIZE);
      let data: Uint8Array<ArrayBuffer>;
      let from: Deno.NetAddr;
      try {
        [data, from] = await this.#conn.receive(buffer) as [
          Uint8Array<ArrayBuffer>,
          Deno.NetAddr,
        ];
      } catch (error) {
        this.#receives.failed();
        if (this.#stopping || this.#closed) return;
        if (error instanceof Deno.errors.BadResource) return;
        this.#report(annotate(error, {
          op: "receive",
          network: "udp",
          address: joinHostPort(this.#addr.hostname, this.#addr.port),
        }));
        backoff = Math.min(
          backoff === 0 ? RECEIVE_BACKOFF_MIN_MS : backoff * 2,
          RECEIVE_BACKOFF_MAX_MS,
        );
        await this.#pause(backoff);
        continue;
      }
      this.#receives.completed();
      // The next datagram must not wait for this handler.
      this.#wakeReceivers();
      backoff = 0;
      // A datagram that arrives during a shutdown is not served.
      if (this.#stopping) return;
      this.#busy++;
      try {
        const result = this.#handler(data, from);
        // Awaiting a plain reply would cost a turn of the microtask queue.
        const reply = isPromiseLike(result) ? await result : result;
        if (reply !== undefined && reply !== null) {
          assertPayload(reply, "the handler's reply");
          assertPayloadSize(reply, this.#family);
          await this.#reply(reply, from);
        }
      } catch (error) {
        if (!this.#closed) this.#report(error, from);
      } finally {
        this.#busy--;
        if (this.#busy === 0) this.#drained?.();
      }
    }
  }

  #reply(reply: Uint8Array, to: Deno.NetAddr): Promise<unknown> {
    return this.#conn.send(reply, to).catch((error) => {
      throw annotate(error, {
        op: "send",
        network: "udp",
        address: joinHostPort(to.hostname, to.port),
        port: to.port,
      });
    });
  }

  /** Rests an idle worker: true when it is given a receive, false at shutdown. */
  #park(): Promise<boolean> {
    return new Promise<boolean>((wake) => this.#parked.push(wake));
  }

  /** Hands receives to resting workers while the window has room. */
  #wakeReceivers = (): void => {
    while (this.#receives.hasRoom && this.#parked.length > 0) {
      this.#receives.posted();
      this.#parked.pop()!(true);
    }
  };

  /** Waits `ms` after a receive error; a shutdown ends the wait at once. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#pauses.add(wake);
    });
  }
}

/**
 * Binds a UDP port and serves every datagram with `handler`: the classic
 * datagram server loop of `recvfrom()`, handle, `sendto()`. What the handler
 * returns is sent back to the sender; nothing means no reply.
 *
 * Up to `maxConcurrency` handlers run at once, each with its own receive in
 * flight. A handler that throws is reported to `onError` and the server goes
 * on serving.
 *
 * @param options Where to listen, concurrency, shutdown and callbacks.
 * @param handler Called with each datagram and its sender; may be async.
 * @returns The running server; `server.addr.port` is the port it is bound to.
 * @throws {TypeError} If an option or the handler has the wrong type.
 * @throws {RangeError} If the port is invalid or an unknown service, or a
 * number option is out of range.
 * @throws {Deno.errors.NotSupported} Without `--unstable-net`.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag, such as `--allow-net=0.0.0.0:5353`.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 *
 * @example An uppercasing server
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * const encoder = new TextEncoder();
 * const decoder = new TextDecoder();
 * await using server = serveUdp({ hostname: "127.0.0.1", port: 0 }, (data) =>
 *   encoder.encode(decoder.decode(data).toUpperCase()));
 *
 * const reply = await requestUdp(encoder.encode("shout"), server.addr);
 * assertEquals(decoder.decode(reply), "SHOUT");
 * ```
 *
 * @example Stop with a signal
 * ```ts
 * import { serveUdp } from "@sockets/net/udp";
 *
 * const controller = new AbortController();
 * const server = serveUdp(
 *   { hostname: "127.0.0.1", port: 0, signal: controller.signal },
 *   () => {},
 * );
 * controller.abort();
 * await server.finished;
 * ```
 */
export function serveUdp(
  options: ServeUdpOptions,
  handler: UdpHandler,
): UdpServer {
  assertOptions(options);
  if (options === undefined) {
    throw new TypeError(
      "options must be an object such as { port: 5353 }, got undefined",
    );
  }
  const { hostname, port, reuseAddress, loopback, ...serveOptions } = options;
  assertFunction(handler, "handler", "(data, from) => reply | undefined");
  assertCount(serveOptions.maxConcurrency, "options.maxConcurrency");
  assertMilliseconds(serveOptions.shutdownTimeout, "options.shutdownTimeout");
  assertSignal(serveOptions.signal, "options.signal");
  if (serveOptions.onError !== undefined) {
    assertFunction(
      serveOptions.onError,
      "options.onError",
      "(error, from) => void",
    );
  }
  if (serveOptions.onListen !== undefined) {
    assertFunction(serveOptions.onListen, "options.onListen", "(addr) => void");
  }
  const conn = bindOptions({ hostname, port, reuseAddress, loopback });
  return new UdpServer(conn, handler, serveOptions);
}

/** Options of {@linkcode requestUdp}. */
export interface RequestUdpOptions {
  /**
   * Milliseconds to wait for an answer to the first attempt; each retry
   * waits `backoff` times longer than the one before.
   *
   * @default {1000}
   */
  timeout?: number;
  /**
   * Sends after the first one, when no answer comes. `0` sends once.
   *
   * @default {3}
   */
  retries?: number;
  /**
   * The factor between successive waits: `2` doubles them, `1` keeps them
   * equal.
   *
   * @default {2}
   */
  backoff?: number;
  /**
   * Aborts the request, whatever attempts remain: the overall deadline, as
   * `AbortSignal.timeout(5000)`. The promise rejects with the signal's
   * reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Decides whether a datagram from the peer is the answer, for protocols
   * that tag requests (a DNS id, a sequence number), so that a late answer
   * to an earlier attempt or to another request is skipped.
   *
   * @default {every datagram from the peer is the answer}
   */
  accept?: (data: Uint8Array<ArrayBuffer>) => boolean;
  /**
   * The local address to send from, as for {@linkcode connectUdp}.
   *
   * @default {the loopback or wildcard address of the peer's family}
   */
  localHostname?: string;
}

function sleep(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Sends a request datagram and waits for the answer from that peer,
 * retrying with exponential backoff: the client style that an unreliable
 * transport needs. The waits are `timeout`, `timeout × backoff`,
 * `timeout × backoff²`, ... for `retries + 1` attempts in all; a `signal`
 * bounds the whole request.
 *
 * Requests must be safe to repeat: a lost answer looks the same as a lost
 * request, so the server may see a request more than once.
 *
 * @param data The request: at most 65,507 bytes over IPv4, 65,527 over IPv6.
 * @param to The server, such as `server.addr` or `{ hostname, port }`.
 * @param options Timeout, retries, backoff, deadline and answer matching.
 * @returns The answer's payload.
 * @throws {TypeError} If an argument has the wrong type.
 * @throws {RangeError} If `data` is too large, the port is invalid, or an
 * option is out of range.
 * @throws {Deno.errors.TimedOut} If no answer came after the last attempt;
 * the message lists the attempts.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag.
 *
 * @example Ask a time server, with retries
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assert } from "@std/assert";
 *
 * await using server = serveUdp({ hostname: "127.0.0.1", port: 0 }, () =>
 *   new TextEncoder().encode(new Date().toISOString()));
 *
 * const answer = await requestUdp(new Uint8Array(0), server.addr, {
 *   timeout: 200,
 *   retries: 4,
 *   signal: AbortSignal.timeout(5000),
 * });
 * assert(answer.length > 0);
 * ```
 */
export async function requestUdp(
  data: Uint8Array,
  to: UdpTarget,
  options: RequestUdpOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  assertPayload(data, "data");
  assertOptions(options);
  const {
    timeout = DEFAULT_REQUEST_TIMEOUT_MS,
    retries = DEFAULT_RETRIES,
    backoff = DEFAULT_BACKOFF,
    signal,
    accept,
    localHostname,
  } = options;
  assertMilliseconds(timeout, "options.timeout");
  if (timeout === 0) {
    throw new RangeError(
      "options.timeout must be more than 0 ms, got 0; it is the wait for the first answer",
    );
  }
  if (
    !(typeof retries === "number" && Number.isInteger(retries) && retries >= 0)
  ) {
    throw new (typeof retries === "number" ? RangeError : TypeError)(
      `options.retries must be an integer, 0 or more (0 sends once), got ${
        show(retries)
      }`,
    );
  }
  if (
    !(typeof backoff === "number" && backoff >= 1 && Number.isFinite(backoff))
  ) {
    throw new (typeof backoff === "number" ? RangeError : TypeError)(
      `options.backoff must be a finite number, 1 or more (2 doubles each wait), got ${
        show(backoff)
      }`,
    );
  }
  assertSignal(signal, "options.signal");
  if (accept !== undefined) {
    assertFunction(accept, "options.accept", "(data) => boolean");
  }
  const localFamily = localHostname === undefined
    ? undefined
    : ipFamily(assertHostname(localHostname, "options.localHostname"));
  signal?.throwIfAborted();
  const peer = await resolveTarget(to, localFamily, "to", signal);
  assertPayloadSize(data, familyOf(peer));
  await using socket = await connectUdp({
    hostname: peer.hostname,
    port: peer.port,
    localHostname,
  });

  const answer = (async () => {
    for (;;) {
      const reply = await socket.receive();
      if (accept === undefined || accept(reply)) return reply;
    }
  })();
  // Closing the socket at the end rejects the receive still waiting.
  answer.catch(() => {});

  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  aborted.promise.catch(() => {});

  const address = joinHostPort(peer.hostname, peer.port);
  const attempts: string[] = [];
  try {
    let wait = timeout;
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      signal?.throwIfAborted();
      try {
        await socket.send(data);
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        attempts.push(
          `attempt ${attempt}: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
      const timer = sleep(wait);
      try {
        const result = await Promise.race([
          answer,
          timer.promise,
          aborted.promise,
        ]);
        if (result !== undefined) return result;
      } finally {
        timer.cancel();
      }
      if (attempts.length < attempt) {
        attempts.push(`attempt ${attempt}: no answer in ${wait} ms`);
      }
      wait *= backoff;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  throw new Deno.errors.TimedOut(
    `request udp ${address}: no answer after ${attempts.length} attempt${
      attempts.length === 1 ? "" : "s"
    } (${
      attempts.join("; ")
    }); check that a server is listening there, or raise options.timeout or options.retries`,
  );
}
