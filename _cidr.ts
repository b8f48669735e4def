// IP addresses and CIDR ranges as bytes, for deciding who is trusted or
// allowed: IPv4, IPv6, and IPv4-mapped IPv6 (`::ffff:192.0.2.1`), which a
// dual-stack socket reports for an IPv4 client and which must match the same
// rules as `192.0.2.1`.

import { ipFamily } from "./_address.ts";

/** The IPv4-mapped IPv6 prefix `::ffff:0:0/96` (RFC 4291 section 2.5.5.2). */
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** An address range: every address whose first `bits` bits are those of `bytes`. */
export interface Cidr {
  /** 16 bytes; an IPv4 range is held as its IPv4-mapped IPv6 range. */
  readonly bytes: Uint8Array;
  /** The prefix length, counted on the 128 bits of `bytes`. */
  readonly bits: number;
}

/**
 * Parses an IP address literal into 16 bytes, an IPv4 address as its
 * IPv4-mapped IPv6 form; `undefined` when `text` is no IP literal. A `%zone`
 * is ignored.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const family = ipFamily(text);
  if (family === undefined) return undefined;
  const bytes = new Uint8Array(16);
  if (family === 4) {
    bytes.set(MAPPED_PREFIX);
    bytes.set(text.split(".").map(Number), 12);
    return bytes;
  }
  const percent = text.indexOf("%");
  const address = percent === -1 ? text : text.slice(0, percent);
  const [head, tail] = address.split("::");
  const headWords = words(head);
  if (tail === undefined) {
    bytes.set(headWords);
    return bytes;
  }
  const tailWords = words(tail);
  bytes.set(headWords);
  bytes.set(tailWords, 16 - tailWords.length);
  return bytes;
}

/** The bytes of a `:`-separated run of groups, the last of which may be a dotted IPv4 address. */
function words(run: string): number[] {
  if (run === "") return [];
  const bytes: number[] = [];
  for (const field of run.split(":")) {
    if (field.includes(".")) {
      bytes.push(...field.split(".").map(Number));
    } else {
      const value = parseInt(field, 16);
      bytes.push(value >> 8, value & 0xff);
    }
  }
  return bytes;
}

/**
 * Parses an address (`192.0.2.1`, `2001:db8::1`) or a CIDR range
 * (`10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104`).
 *
 * @throws {TypeError} If `text` is neither, saying what a valid entry looks like.
 */
export function parseCidr(text: string, name: string): Cidr {
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseIp(address);
  const ipv4 = ipFamily(address) === 4;
  const max = ipv4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (bytes === undefined || !/^\d{1,3}$/.test(prefixText) || prefix > max) {
    throw new TypeError(
      `${name} must be an IP address or a CIDR range such as "10.0.0.0/8" or "2001:db8::/32", got ${
        JSON.stringify(text)
      }`,
    );
  }
  return { bytes, bits: ipv4 ? 96 + prefix : prefix };
}

/** Whether the 16-byte address `address` lies in `range`. */
export function cidrContains(range: Cidr, address: Uint8Array): boolean {
  const whole = range.bits >> 3;
  for (let i = 0; i < whole; i++) {
    if (range.bytes[i] !== address[i]) return false;
  }
  const rest = range.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (range.bytes[whole] & mask) === (address[whole] & mask);
}

/**
 * Whether the IP literal `hostname` lies in any of `ranges`; `false` for
 * anything that is not an IP literal.
 */
export function matchesAny(
  ranges: readonly Cidr[],
  hostname: string,
): boolean {
  const address = parseIp(hostname);
  if (address === undefined) return false;
  return ranges.some((range) => cidrContains(range, address));
}

/**
 * Formats 4 or 16 address bytes as text: dotted IPv4, or IPv6 in the
 * canonical form of RFC 5952 (lower case, the longest run of two or more zero
 * groups as `::`, an IPv4-mapped address as `::ffff:192.0.2.1`).
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join(".")}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${
    hex.slice(bestStart + bestLength).join(":")
  }`;
}
