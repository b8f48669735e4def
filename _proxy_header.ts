// The PROXY protocol's wire format (HAProxy's doc/proxy-protocol.txt): where
// a header ends, and what it says. `proxy.ts` reads and writes it.

import { ipFamily } from "./_address.ts";
import { formatIp } from "./_cidr.ts";
import { crc32c } from "./_crc32c.ts";
import { show } from "./_validate.ts";
import type { ProxyHeader, ProxyTlv, ProxyTlvName } from "./proxy.ts";

/** The 12 bytes that open every version 2 header (proxy-protocol.txt section 2.2). */
export const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

/** A version 2 header's fixed part: signature, version and command, family, length (section 2.2). */
export const V2_FIXED_SIZE = 16;

/** The longest version 1 line, CRLF included (section 2.1). */
export const PROXY_V1_MAX_SIZE = 107;

/** The shortest version 1 line, `PROXY UNKNOWN\r\n`, and so the first read of any header. */
export const V1_MIN_SIZE = 15;

/**
 * The default cap on a header's size, in bytes: a version 2 header may
 * announce up to 16 + 65535 bytes, but addresses take at most 216 and
 * HAProxy's TLVs (ALPN, authority, a unique id of at most 128 bytes, SSL
 * details) fit in a few hundred; one 4 KiB page leaves room for all of them.
 *
 * @example Allow twice the default for headers with many TLVs
 * ```ts
 * import {
 *   DEFAULT_MAX_PROXY_HEADER_SIZE,
 *   readProxyHeader,
 *   writeProxyHeader,
 * } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * using conn = await listener.accept();
 * await writeProxyHeader(client, {
 *   remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "192.0.2.1", port: 443 },
 * });
 * const header = await readProxyHeader(conn, {
 *   maxHeaderSize: 2 * DEFAULT_MAX_PROXY_HEADER_SIZE,
 * });
 * assertEquals((header.remoteAddr as Deno.NetAddr).hostname, "192.0.2.7");
 * ```
 */
export const DEFAULT_MAX_PROXY_HEADER_SIZE = 4096;

/**
 * How long a trusted proxy has to send its header by default: nginx's `proxy_protocol_timeout` (30 s).
 *
 * @example A proxy on a slow link gets twice the default time
 * ```ts
 * import {
 *   DEFAULT_PROXY_HEADER_TIMEOUT_MS,
 *   readProxyHeader,
 *   writeProxyHeader,
 * } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * using conn = await listener.accept();
 * await writeProxyHeader(client, {
 *   remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "192.0.2.1", port: 443 },
 * });
 * const header = await readProxyHeader(conn, {
 *   timeout: 2 * DEFAULT_PROXY_HEADER_TIMEOUT_MS,
 * });
 * assertEquals(header.command, "PROXY");
 * ```
 */
export const DEFAULT_PROXY_HEADER_TIMEOUT_MS = 30_000;

export const TLV_NAMES: Record<number, ProxyTlvName> = {
  0x01: "ALPN",
  0x02: "AUTHORITY",
  0x03: "CRC32C",
  0x04: "NOOP",
  0x05: "UNIQUE_ID",
  0x20: "SSL",
  0x30: "NETNS",
};

/** The type of the CRC32C TLV (section 2.2.7). */
export const PP2_TYPE_CRC32C = 0x03;

/** Thrown for a header that breaks the specification: `Deno.errors.InvalidData`. */
function invalid(message: string): Error {
  return new Deno.errors.InvalidData(
    `read PROXY header: ${message}; the peer is not a PROXY protocol sender, or sends another version: check the proxy's send-proxy setting`,
  );
}

export function startsWith(
  bytes: Uint8Array,
  prefix: Uint8Array,
  n: number,
): boolean {
  const end = Math.min(n, prefix.length);
  for (let i = 0; i < end; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

const V1_PREFIX = new TextEncoder().encode("PROXY ");
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;

/**
 * How many more bytes the header in `bytes[0, n)` needs at the least: 0 when
 * it is complete. Reading no more than this never reads past the header.
 *
 * @throws {Deno.errors.InvalidData} As soon as the bytes cannot begin a header.
 */
export function missingBytes(
  bytes: Uint8Array,
  n: number,
  maxHeaderSize: number,
): number {
  if (n < V1_MIN_SIZE) {
    if (
      !startsWith(bytes, V2_SIGNATURE, n) && !startsWith(bytes, V1_PREFIX, n)
    ) {
      throw invalid('it begins with neither "PROXY " nor the v2 signature');
    }
    return V1_MIN_SIZE - n;
  }
  if (startsWith(bytes, V2_SIGNATURE, n)) {
    if (n < V2_FIXED_SIZE) return V2_FIXED_SIZE - n;
    const size = V2_FIXED_SIZE + ((bytes[14] << 8) | bytes[15]);
    if (size > maxHeaderSize) {
      throw new Deno.errors.InvalidData(
        `read PROXY header: a v2 header of ${size} bytes is larger than maxHeaderSize ${maxHeaderSize}; raise maxHeaderSize if the proxy sends that many TLVs`,
      );
    }
    return size - n;
  }
  if (!startsWith(bytes, V1_PREFIX, n)) {
    throw invalid('it begins with neither "PROXY " nor the v2 signature');
  }
  let spaces = 0;
  for (let i = 0; i < n; i++) {
    const byte = bytes[i];
    if (byte === SPACE) spaces++;
    else if (byte === LF) throw invalid("a v1 line has a bare LF");
    else if (byte === CR && i !== n - 1) {
      if (i === n - 2 && bytes[n - 1] === LF) return 0;
      throw invalid("a v1 line has a CR before its end");
    }
  }
  if (n >= PROXY_V1_MAX_SIZE) {
    throw invalid(`a v1 line has no CRLF within ${PROXY_V1_MAX_SIZE} bytes`);
  }
  const last = bytes[n - 1];
  if (last === CR) return 1;
  // `PROXY TCP4 src dst sport dport` has 5 spaces, each followed by one
  // character at least; `UNKNOWN` may end anywhere.
  const unknown = bytes[6] === 0x55; // "U"
  const spacesLeft = unknown ? 0 : Math.max(0, 5 - spaces);
  const need = spacesLeft * 2 + (last === SPACE ? 1 : 0) + 2;
  return Math.min(need, PROXY_V1_MAX_SIZE - n);
}

/** Parses one complete header, as `missingBytes` delimits it; throws `InvalidData` if it breaks the specification. */
export function parseHeader(bytes: Uint8Array): ProxyHeader {
  if (startsWith(bytes, V2_SIGNATURE, bytes.length)) return parseV2(bytes);
  return parseV1(bytes);
}

const PORT = /^(?:0|[1-9]\d{0,4})$/;

function parseV1(bytes: Uint8Array): ProxyHeader {
  const line = new TextDecoder().decode(bytes.subarray(0, bytes.length - 2));
  const fields = line.split(" ");
  if (fields[1] === "UNKNOWN") {
    return { version: 1, command: "PROXY", tlvs: [], size: bytes.length };
  }
  if (fields.length !== 6 || (fields[1] !== "TCP4" && fields[1] !== "TCP6")) {
    throw invalid(
      `a v1 line must be "PROXY TCP4|TCP6 src dst sport dport", got ${
        JSON.stringify(line)
      }`,
    );
  }
  const family = fields[1] === "TCP4" ? 4 : 6;
  const [, , src, dst, sport, dport] = fields;
  for (const address of [src, dst]) {
    if (ipFamily(address) !== family || address.includes("%")) {
      throw invalid(
        `${JSON.stringify(address)} is not an IPv${family} address (${
          fields[1]
        })`,
      );
    }
  }
  const ports = [sport, dport].map((text) => {
    if (!PORT.test(text) || Number(text) > 65535) {
      throw invalid(`${JSON.stringify(text)} is not a port number`);
    }
    return Number(text);
  });
  return {
    version: 1,
    command: "PROXY",
    remoteAddr: { transport: "tcp", hostname: src, port: ports[0] },
    localAddr: { transport: "tcp", hostname: dst, port: ports[1] },
    tlvs: [],
    size: bytes.length,
  };
}

/** Address block sizes per family (section 2.2): INET, INET6, UNIX. */
const ADDRESS_SIZES: Record<number, number> = { 1: 12, 2: 36, 3: 216 };

/** A Unix socket path field's size (section 2.2). */
const UNIX_PATH_SIZE = 108;

function parseV2(bytes: Uint8Array): ProxyHeader {
  const version = bytes[12] >> 4;
  const command = bytes[12] & 0x0f;
  if (version !== 2) throw invalid(`version ${version} in a v2 header`);
  if (command > 1) throw invalid(`command ${command} in a v2 header`);
  const family = bytes[13] >> 4;
  const protocol = bytes[13] & 0x0f;
  if (family > 3 || protocol > 2) {
    throw invalid(`address family byte 0x${bytes[13].toString(16)}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const addressSize = family === 0 || protocol === 0
    ? 0
    : ADDRESS_SIZES[family];
  if (V2_FIXED_SIZE + addressSize > bytes.length) {
    throw invalid(
      `${
        bytes.length - V2_FIXED_SIZE
      } bytes cannot hold the addresses of family ${family}`,
    );
  }
  let remoteAddr: Deno.NetAddr | Deno.UnixAddr | undefined;
  let localAddr: Deno.NetAddr | Deno.UnixAddr | undefined;
  const at = V2_FIXED_SIZE;
  if (command === 1 && addressSize > 0) {
    const transport = protocol === 2 ? "udp" : "tcp";
    if (family === 3) {
      remoteAddr = { transport: "unix", path: unixPath(bytes, at) };
      localAddr = {
        transport: "unix",
        path: unixPath(bytes, at + UNIX_PATH_SIZE),
      };
    } else {
      const size = family === 1 ? 4 : 16;
      remoteAddr = {
        transport,
        hostname: formatIp(bytes.subarray(at, at + size)),
        port: view.getUint16(at + 2 * size),
      };
      localAddr = {
        transport,
        hostname: formatIp(bytes.subarray(at + size, at + 2 * size)),
        port: view.getUint16(at + 2 * size + 2),
      };
    }
  }
  const tlvs: ProxyTlv[] = [];
  let offset = at + addressSize;
  while (offset < bytes.length) {
    if (offset + 3 > bytes.length) throw invalid("a TLV is cut short");
    const type = bytes[offset];
    const length = view.getUint16(offset + 1);
    const end = offset + 3 + length;
    if (end > bytes.length) {
      throw invalid(
        `TLV 0x${type.toString(16)} of ${length} bytes overruns the header`,
      );
    }
    const name = TLV_NAMES[type];
    const value = bytes.slice(offset + 3, end);
    tlvs.push(name === undefined ? { type, value } : { type, name, value });
    if (type === PP2_TYPE_CRC32C) checkCrc(bytes, offset + 3, length);
    offset = end;
  }
  return {
    version: 2,
    command: command === 1 ? "PROXY" : "LOCAL",
    ...(remoteAddr === undefined ? {} : { remoteAddr, localAddr }),
    tlvs,
    size: bytes.length,
  };
}

function unixPath(bytes: Uint8Array, at: number): string {
  const field = bytes.subarray(at, at + UNIX_PATH_SIZE);
  const nul = field.indexOf(0);
  return new TextDecoder().decode(nul === -1 ? field : field.subarray(0, nul));
}

/** Checks the CRC32C TLV whose 4 value bytes start at `at`: computed over the header with them zeroed. */
function checkCrc(bytes: Uint8Array, at: number, length: number): void {
  if (length !== 4) throw invalid(`the CRC32C TLV has ${length} bytes, not 4`);
  const copy = bytes.slice();
  copy.fill(0, at, at + 4);
  const expected = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
  const actual = crc32c(copy);
  if (actual !== expected) {
    throw new Deno.errors.InvalidData(
      `read PROXY header: CRC32C mismatch: the header says 0x${
        expected.toString(16)
      }, its bytes give 0x${
        actual.toString(16)
      }; the header was corrupted on the way`,
    );
  }
}

/** Checks `maxHeaderSize` and returns it, or the default when it is left out. */
export function assertHeaderSize(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_PROXY_HEADER_SIZE;
  if (
    typeof value !== "number" || !Number.isInteger(value) ||
    value < PROXY_V1_MAX_SIZE || value > V2_FIXED_SIZE + 0xffff
  ) {
    throw new RangeError(
      `options.maxHeaderSize must be an integer from ${PROXY_V1_MAX_SIZE} to ${
        V2_FIXED_SIZE + 0xffff
      }, got ${show(value)}; leave it out for ${DEFAULT_MAX_PROXY_HEADER_SIZE}`,
    );
  }
  return value;
}
