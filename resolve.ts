/**
 * Addresses: every address of a host, in the order the system prefers, for
 * connecting ({@linkcode lookupHost} is Go's `net.LookupHost`), and
 * {@linkcode formatAddress}, which writes any socket address for people.
 *
 * Host names are resolved by the system resolver (`getaddrinfo()`), so
 * `/etc/hosts`, search domains and the system's address order (RFC 6724,
 * tunable in `/etc/gai.conf`) all apply, as they do for other programs on the
 * machine. IP literals are returned as they are, without a lookup.
 *
 * A lookup needs net permission for the name itself: `--allow-net=example.com`.
 * A grant scoped to a port (`--allow-net=example.com:443`) does not cover it.
 *
 * ```ts ignore
 * import { lookupHost } from "@sockets/net/resolve";
 *
 * console.log(await lookupHost("example.com"));
 * // e.g. [ "2001:db8::10", "192.0.2.10" ]
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

// `node:dns` because its `lookup()` is `getaddrinfo()`: Deno.resolveDns()
// only queries DNS servers (no /etc/hosts, no system address order), and
// Deno.connect() resolves internally but tries only the first address, while
// a client that falls back across addresses needs all of them.
import { lookup } from "node:dns/promises";
import { ipFamily } from "./_address.ts";
import { abortable } from "./_async.ts";
import { explainLookup } from "./_errors.ts";
import {
  assertHostname,
  assertKnownOptions,
  assertOptions,
  assertSignal,
} from "./_validate.ts";

export { formatAddress } from "./_address.ts";

/**
 * Options for {@linkcode lookupHost}.
 *
 * @example A lookup the caller can give up on
 * ```ts
 * import { lookupHost } from "@sockets/net/resolve";
 * import { assertEquals } from "@std/assert";
 *
 * const addresses = await lookupHost("127.0.0.1", {
 *   signal: AbortSignal.timeout(5_000),
 * });
 * assertEquals(addresses, ["127.0.0.1"]);
 * ```
 */
export interface LookupHostOptions {
  /**
   * Aborts the lookup: the promise rejects with the signal's reason. The
   * system resolver cannot be interrupted, so its answer is then dropped.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** The option names of {@linkcode lookupHost}. */
const LOOKUP_HOST_OPTION_NAMES: readonly string[] = ["signal"];

/**
 * Returns every address of a host, in the order the system resolver gives
 * them (RFC 6724: usually IPv6 first where the machine has IPv6
 * connectivity). An IP literal, IPv4 or IPv6, with or without brackets, is
 * returned as it is, without a lookup and without permission.
 *
 * Names are resolved with `getaddrinfo()`, so `/etc/hosts` applies. The
 * lookup needs net permission for the name: `--allow-net=<hostname>`.
 *
 * @param hostname A host name, or an IPv4 or IPv6 address.
 * @param options Options for the lookup.
 * @returns The addresses, as IP literals without brackets; never empty.
 * @throws {TypeError} If `hostname` is not a string, or an option has the
 * wrong type.
 * @throws {RangeError} If `hostname` is empty, contains spaces, carries a
 * port, or has brackets around something other than an IPv6 address.
 * @throws {Deno.errors.NotFound} If the name has no address.
 * @throws {Deno.errors.NotCapable} If net permission for the name is not
 * granted; the message names the flag, such as `--allow-net=example.com`.
 * @throws {Error} Another resolver failure, such as a temporary one; the
 * original error is the `cause`, and an abort rejects with the signal's
 * reason.
 *
 * @example Names and addresses
 * ```ts
 * import { lookupHost } from "@sockets/net/resolve";
 * import { assert, assertEquals } from "@std/assert";
 *
 * assert((await lookupHost("localhost")).length > 0);
 * assertEquals(await lookupHost("127.0.0.1"), ["127.0.0.1"]);
 * assertEquals(await lookupHost("[::1]"), ["::1"]);
 * ```
 *
 * @example A deadline
 * ```ts
 * import { lookupHost } from "@sockets/net/resolve";
 * import { assert } from "@std/assert";
 *
 * const addresses = await lookupHost("localhost", {
 *   signal: AbortSignal.timeout(5000),
 * });
 * assert(addresses.length > 0);
 * ```
 */
export async function lookupHost(
  hostname: string,
  options: LookupHostOptions = {},
): Promise<string[]> {
  const literal = assertHostname(hostname, "hostname");
  assertOptions(options);
  assertKnownOptions(options, LOOKUP_HOST_OPTION_NAMES);
  const { signal } = options;
  assertSignal(signal, "options.signal");
  signal?.throwIfAborted();

  if (ipFamily(literal) !== undefined) return [literal];

  let records: { address: string }[];
  try {
    // `verbatim` keeps getaddrinfo()'s order, whatever the runtime's default
    // (Node's once put IPv4 first).
    records = await abortable(
      lookup(hostname, { all: true, order: "verbatim" }),
      signal,
    );
  } catch (error) {
    if (signal?.aborted && error === signal.reason) throw error;
    throw explainLookup(error, hostname);
  }
  // getaddrinfo() can list an address once per socket type.
  const addresses = [...new Set(records.map(({ address }) => address))];
  if (addresses.length === 0) {
    throw new Deno.errors.NotFound(
      `lookup ${hostname}: no such host; check the spelling or the DNS configuration`,
    );
  }
  return addresses;
}
