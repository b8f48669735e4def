// The engines' access rules, the `allow` and `deny` options: who may be
// served, by IP address and CIDR range, decided on the real client's address
// (after a trusted proxy's PROXY header) before any handler runs.

import { type Cidr, cidrContains, parseCidr, parseIp } from "./_cidr.ts";
import { show } from "./_validate.ts";

/**
 * The access rules that both engines take, and every server built on them:
 * who is served, by IP address and CIDR range (`"10.0.0.0/8"`,
 * `"2001:db8::/32"`; an IPv4 entry also matches the IPv4-mapped IPv6 address
 * `::ffff:10.1.2.3` of a dual-stack socket). They decide on the real
 * client's address: for a stream server, the PROXY header's when `proxy`
 * trusts the peer, else the peer's `remoteAddr`; for a datagram server, the
 * sender's. A refused connection is closed before any handler runs, a
 * refused datagram is dropped before the handler; neither is reported, both
 * are counted in `counters.refusedByRules`. A Unix socket's clients have no
 * IP address: rules there are a TypeError, unless a stream server's `proxy`
 * gives the clients' addresses.
 *
 * @example Serve only the local network, but not one host
 * ```ts
 * import { serveTcp } from "@sockets/net/tcp";
 *
 * await using server = serveTcp({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   allow: ["127.0.0.0/8", "10.0.0.0/8", "::1"],
 *   deny: ["10.0.0.66"],
 * }, (conn) => conn.readable.pipeTo(conn.writable));
 * ```
 */
export interface AccessRules {
  /**
   * The only clients served, by IP address or CIDR range; anyone else is
   * refused.
   *
   * @default {undefined} (everyone not in `deny`)
   */
  allow?: readonly string[];
  /**
   * Clients refused, by IP address or CIDR range; `deny` wins over `allow`.
   *
   * @default {undefined} (nobody)
   */
  deny?: readonly string[];
}

/** The `allow` and `deny` options, checked and compiled once per server. */
export interface RuleGate {
  /** `undefined` when `allow` is not set: everyone not denied is served. */
  readonly allow: readonly Cidr[] | undefined;
  readonly deny: readonly Cidr[];
}

/** The option names of the access rules, in every engine's option list. */
export const RULE_OPTION_NAMES: readonly string[] = ["allow", "deny"];

/**
 * Checks the `allow` and `deny` options and compiles their ranges;
 * `undefined` when neither is set, so a server without rules pays nothing.
 *
 * @throws {TypeError} If either is not an array of addresses and CIDR ranges, naming the bad entry.
 */
export function ruleGate(options: AccessRules): RuleGate | undefined {
  const { allow, deny } = options;
  if (allow === undefined && deny === undefined) return undefined;
  return {
    allow: allow === undefined ? undefined : ranges(allow, "allow"),
    deny: deny === undefined ? [] : ranges(deny, "deny"),
  };
}

function ranges(list: readonly string[], name: string): Cidr[] {
  if (!Array.isArray(list)) {
    throw new TypeError(
      `options.${name} must be an array of IP addresses and CIDR ranges such as ["127.0.0.1", "10.0.0.0/8"], got ${
        show(list)
      }`,
    );
  }
  return list.map((entry, i) => {
    if (typeof entry !== "string") {
      throw new TypeError(
        `options.${name}[${i}] must be an IP address or a CIDR range such as "10.0.0.0/8" or "2001:db8::/32", got ${
          show(entry)
        }`,
      );
    }
    return parseCidr(entry, `options.${name}[${i}]`);
  });
}

/**
 * Refuses rules on a server whose clients have no IP address: a Unix
 * socket's peers. Without `proxy`, no Unix client could ever match a rule.
 *
 * @throws {TypeError} If `gate` is set and `addr` is a Unix address, saying what restricts such a server instead.
 */
export function assertRulesApply(
  gate: RuleGate | undefined,
  addr: Deno.Addr,
  proxied: boolean,
): void {
  if (gate === undefined || proxied) return;
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    throw new TypeError(
      `options.allow and options.deny match IP addresses, and the clients of a Unix socket have none: restrict who may connect with the socket file's permissions (options.mode), or${
        addr.transport === "unix"
          ? " set options.proxy so that the rules apply to the client address of the PROXY header, or"
          : ""
      } leave the rules out`,
    );
  }
}

/**
 * Whether the rules admit a client at `addr`: not in `deny`, and in `allow`
 * when `allow` is set. A client without an IP address (a Unix peer whose
 * proxy sent no address) is in no list, so only `allow` refuses it.
 */
export function admits(gate: RuleGate, addr: Deno.Addr): boolean {
  const address = "hostname" in addr ? parseIp(addr.hostname) : undefined;
  if (address === undefined) return gate.allow === undefined;
  for (const range of gate.deny) {
    if (cidrContains(range, address)) return false;
  }
  if (gate.allow === undefined) return true;
  for (const range of gate.allow) {
    if (cidrContains(range, address)) return true;
  }
  return false;
}
