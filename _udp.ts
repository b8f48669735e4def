// What the UDP files share: payload limits, address resolution for sends,
// and binding a socket with errors that name the address and the fix.

import {
  DEFAULT_LISTEN_HOSTNAME,
  dialable,
  IP_ADDRESS_OPTION_NAMES,
  type IpFamily,
  ipFamily,
  joinHostPort,
} from "./_address.ts";
import { annotate, requireUnstableNet } from "./_errors.ts";
import {
  assertBoolean,
  assertHostname,
  assertKnownOptions,
  assertOptions,
  assertTransport,
  show,
} from "./_validate.ts";
import { lookupHost } from "./resolve.ts";
import { resolvePort } from "./services.ts";

/**
 * The largest UDP payload over IPv4: 65,535 bytes (the IPv4 total length
 * limit) minus the 20-byte IPv4 header and the 8-byte UDP header.
 *
 * @example Check a payload before sending it
 * ```ts
 * import { MAX_UDP_PAYLOAD_IPV4 } from "@sockets/net/udp";
 * import { assert } from "@std/assert";
 *
 * const payload = new Uint8Array(1_200);
 * assert(payload.byteLength <= MAX_UDP_PAYLOAD_IPV4);
 * ```
 */
export const MAX_UDP_PAYLOAD_IPV4 = 65_507;

/**
 * The largest UDP payload over IPv6 without jumbograms: 65,535 bytes (the
 * IPv6 payload length limit, which excludes the IPv6 header) minus the 8-byte
 * UDP header.
 *
 * @example The IPv6 limit is 20 bytes larger
 * ```ts
 * import { MAX_UDP_PAYLOAD_IPV4, MAX_UDP_PAYLOAD_IPV6 } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(MAX_UDP_PAYLOAD_IPV6 - MAX_UDP_PAYLOAD_IPV4, 20);
 * ```
 */
export const MAX_UDP_PAYLOAD_IPV6 = 65_527;

/**
 * Every receive buffer of a socket: 64 KiB, more than the largest UDP payload
 * ({@linkcode MAX_UDP_PAYLOAD_IPV6}), so no datagram is truncated.
 */
export const RECEIVE_BUFFER_SIZE = 65_536;

/** The names of `ListenUdpOptions`, for the unknown-option check. */
export const LISTEN_UDP_OPTION_NAMES: readonly string[] = [
  ...IP_ADDRESS_OPTION_NAMES,
  "reuseAddress",
  "loopback",
];

/** The local address options that `listenUdp` and `serveUdp` take. */
export interface BindUdpOptions {
  transport?: string;
  hostname?: string;
  port?: number | string;
  defaultPort?: number;
  reuseAddress?: boolean;
  loopback?: boolean;
}

/** Throws a TypeError unless `data` is a `Uint8Array`. */
export function assertPayload(
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

/** Throws a RangeError if `data` is more than a UDP datagram of `family` carries. */
export function assertPayloadSize(data: Uint8Array, family: IpFamily): void {
  const limit = family === 4 ? MAX_UDP_PAYLOAD_IPV4 : MAX_UDP_PAYLOAD_IPV6;
  if (data.byteLength > limit) {
    throw new RangeError(
      `data is ${data.byteLength} bytes, more than the ${limit} bytes a UDP datagram carries over IPv${family}; split it into several datagrams or use TCP`,
    );
  }
}

/** The canonical text of an IP literal, as the system reports addresses (`::1` for `0:0:0:0:0:0:0:1`). */
export function canonicalIp(address: string): string {
  if (ipFamily(address) !== 6 || address.includes("%")) return address;
  // URL parsing serializes IPv6 addresses in RFC 5952's canonical form.
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** Whether `address` is a loopback address (`127.0.0.0/8` or `::1`). */
export function isLoopback(address: string): boolean {
  return address.startsWith("127.") || canonicalIp(address) === "::1";
}

/** The family of a bound address; Deno reports IP literals. */
export function familyOf(addr: Deno.NetAddr): IpFamily {
  return ipFamily(addr.hostname) ?? 4;
}

/** The error of an operation on a closed socket. */
export function closedError(op: string, addr: Deno.NetAddr): Error {
  return new Deno.errors.BadResource(
    `${op} udp ${joinHostPort(addr.hostname, addr.port)}: the socket is closed`,
  );
}

/** How {@linkcode resolveTarget} finds the address. */
export interface ResolveTargetOptions {
  /** The family the address must have: the socket's. */
  family?: IpFamily;
  /** Aborts the name lookup. */
  signal?: AbortSignal;
  /** The port when `port` is a service name that is not found. */
  defaultPort?: number;
}

/**
 * Resolves a target to an IP address (the first one the resolver gives, of
 * `family` when given) and a port, validating both. A wildcard address
 * means this host: it becomes the loopback address of its family.
 */
export async function resolveTarget(
  to: unknown,
  name: string,
  { family, signal, defaultPort }: ResolveTargetOptions = {},
): Promise<Deno.NetAddr> {
  if (to === null || typeof to !== "object") {
    throw new TypeError(
      `${name} must be an address such as { hostname: "127.0.0.1", port: 53 }, got ${
        show(to)
      }`,
    );
  }
  const target = to as { hostname?: unknown; port?: unknown };
  const hostname = dialable(
    assertHostname(target.hostname, `${name}.hostname`),
  );
  const port = resolvePort(target.port as number | string, {
    defaultPort,
    protocol: "udp",
  });
  if (port === 0) {
    throw new RangeError(
      `${name}.port must be from 1 to 65535 to send to, got 0 (port 0 only asks the system for a free port when binding)`,
    );
  }
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
export function bind(
  hostname: string,
  port: number,
  reuseAddress = false,
  loopback = false,
): Deno.DatagramConn {
  const address = joinHostPort(hostname, port);
  requireUnstableNet(`listen udp ${address}`);
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
 * Validates the local address options, then binds. `known` lists every
 * option name the caller takes, for the unknown-option check.
 */
export function bindOptions(
  options: BindUdpOptions,
  known: readonly string[] = LISTEN_UDP_OPTION_NAMES,
): Deno.DatagramConn {
  assertOptions(options);
  assertKnownOptions(options, known);
  const {
    transport,
    hostname: rawHostname = DEFAULT_LISTEN_HOSTNAME,
    port: rawPort = 0,
    defaultPort,
    reuseAddress = false,
    loopback = false,
  } = options ?? {};
  assertTransport(transport, "udp");
  const hostname = assertHostname(rawHostname, "options.hostname");
  const port = resolvePort(rawPort, { defaultPort, protocol: "udp" });
  assertBoolean(reuseAddress, "options.reuseAddress");
  assertBoolean(loopback, "options.loopback");
  return bind(hostname, port, reuseAddress, loopback);
}
