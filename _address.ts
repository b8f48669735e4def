// IP address literals and Happy Eyeballs ordering, shared by the resolver
// and the TCP client.

/** Dotted-quad IPv4, each part 0 to 255 without leading zeros (which some parsers read as octal). */
const IPV4 =
  /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** One 16-bit group of an IPv6 address. */
const IPV6_GROUP = /^[0-9a-f]{1,4}$/i;

/** An IPv6 address has eight 16-bit groups (RFC 4291 section 2.2). */
const IPV6_GROUPS = 8;

/**
 * How many addresses of the first family are tried before one of the other:
 * RFC 8305 section 4 calls it the "First Address Family Count" and
 * recommends 1.
 */
export const FIRST_ADDRESS_FAMILY_COUNT = 1;

/** The family of an IP address literal. */
export type IpFamily = 4 | 6;

/**
 * Returns 4 or 6 when `text` is an IPv4 or IPv6 literal (an IPv6 one may
 * carry a `%zone`, but no brackets), or `undefined` for anything else, such as
 * a host name.
 */
export function ipFamily(text: string): IpFamily | undefined {
  if (IPV4.test(text)) return 4;
  if (isIpv6(text)) return 6;
  return undefined;
}

/**
 * The hostname a server binds when none is given: every IPv4 address, as for
 * `Deno.listen` and the classic server's `INADDR_ANY`.
 */
export const DEFAULT_LISTEN_HOSTNAME = "0.0.0.0";

/** The hostname a client reaches when none is given, as for `Deno.connect`. */
export const DEFAULT_CONNECT_HOSTNAME = "127.0.0.1";

/**
 * The option names that give an IP socket address, so that an address such
 * as `server.addr` can be spread into the options of the functions that
 * take them.
 */
export const IP_ADDRESS_OPTION_NAMES: readonly string[] = [
  "transport",
  "hostname",
  "port",
  "defaultPort",
];

/** Formats `host:port`, bracketing IPv6 literals as URLs and Go do. */
export function joinHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/**
 * Formats a socket address for people: `127.0.0.1:8080`, `[::1]:8080`
 * (IPv6 in brackets, as in URLs), or a Unix socket's path (`unnamed` for a
 * socket bound to no path).
 *
 * @param addr An address such as `conn.remoteAddr`, `server.addr` or a datagram's sender.
 * @returns The address as text.
 *
 * @example Log where a server listens
 * ```ts
 * import { formatAddress } from "@sockets/net";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(
 *   formatAddress({ transport: "tcp", hostname: "::1", port: 8080 }),
 *   "[::1]:8080",
 * );
 * assertEquals(
 *   formatAddress({ transport: "unix", path: "/run/app.sock" }),
 *   "/run/app.sock",
 * );
 * assertEquals(
 *   formatAddress({ transport: "unix", path: "\0app" }),
 *   "@app",
 * );
 * ```
 */
export function formatAddress(addr: Deno.Addr): string {
  switch (addr.transport) {
    case "tcp":
    case "udp":
      return joinHostPort(addr.hostname, addr.port);
    case "unix":
    case "unixpacket":
      return addr.path ? socketPathText(addr.path) : "unnamed";
    default:
      return String((addr as { transport?: unknown }).transport);
  }
}

/**
 * The address to dial for `hostname`. A wildcard address (`0.0.0.0`, `::`)
 * means this host, as in Go: it becomes the loopback address of its family,
 * so that `connectTcp(server.addr)` works for a server listening on every
 * address (and a datagram's answer comes from the address it was sent to).
 */
export function dialable(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (/^[0:]+$/.test(hostname) && ipFamily(hostname) === 6) return "::1";
  return hostname;
}

/** Returns `hostname` without the brackets of a `[::1]`-style IPv6 literal. */
export function unbracket(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]")
    ? hostname.slice(1, -1)
    : hostname;
}

function isIpv6(text: string): boolean {
  const percent = text.indexOf("%");
  if (percent === text.length - 1) return false;
  const address = percent === -1 ? text : text.slice(0, percent);
  const halves = address.split("::");
  if (halves.length > 2) return false;
  if (halves.length === 1) return countGroups(address, true) === IPV6_GROUPS;
  // `::` stands for one or more zero groups; an embedded IPv4 address may
  // only end the whole address.
  const head = countGroups(halves[0], false);
  const tail = countGroups(halves[1], true);
  return head >= 0 && tail >= 0 && head + tail < IPV6_GROUPS;
}

/** The number of 16-bit groups in a `:`-separated run, or -1 when malformed. */
function countGroups(run: string, mayEndInIpv4: boolean): number {
  if (run === "") return 0;
  const fields = run.split(":");
  let groups = 0;
  for (const [index, field] of fields.entries()) {
    if (IPV6_GROUP.test(field)) {
      groups += 1;
    } else if (
      mayEndInIpv4 && index === fields.length - 1 && IPV4.test(field)
    ) {
      groups += 2;
    } else {
      return -1;
    }
  }
  return groups;
}

/**
 * Orders addresses for connection attempts as RFC 8305 section 4 describes:
 * the family of the first address leads (the system resolver has already
 * sorted them by RFC 6724, which puts IPv6 first where it is usable), and the
 * families then alternate, `firstFamilyCount` addresses of the first family
 * for each one of the other, so that a broken family costs one attempt, not
 * all of them. The order within each family is kept.
 *
 * @param addresses IP address literals, in the resolver's order.
 * @param firstFamilyCount Addresses of the leading family per turn.
 * @returns A new array with the same addresses.
 * @throws {RangeError} If `firstFamilyCount` is not a positive integer.
 */
export function interleaveFamilies(
  addresses: readonly string[],
  firstFamilyCount: number = FIRST_ADDRESS_FAMILY_COUNT,
): string[] {
  if (!(Number.isInteger(firstFamilyCount) && firstFamilyCount >= 1)) {
    throw new RangeError(
      `Invalid firstFamilyCount ${firstFamilyCount}: it is a positive integer (RFC 8305 recommends ${FIRST_ADDRESS_FAMILY_COUNT})`,
    );
  }
  if (addresses.length === 0) return [];
  const leadsWithIpv6 = addresses[0].includes(":");
  const first: string[] = [];
  const other: string[] = [];
  for (const address of addresses) {
    (address.includes(":") === leadsWithIpv6 ? first : other).push(address);
  }
  const ordered: string[] = [];
  let i = 0;
  let j = 0;
  while (i < first.length || j < other.length) {
    for (let n = 0; n < firstFamilyCount && i < first.length; n++) {
      ordered.push(first[i++]);
    }
    if (j < other.length) ordered.push(other[j++]);
  }
  return ordered;
}

/**
 * A Unix socket path as text: an abstract name (`"\0name"`, Linux) as
 * `@name`, the way `ss` and `socat` print it; a file path as it is.
 */
export function socketPathText(path: string): string {
  return path.startsWith("\0") ? `@${path.slice(1)}` : path;
}
