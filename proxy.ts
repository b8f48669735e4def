/**
 * The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
 * `doc/proxy-protocol.txt` defines it: a load balancer that relays a TCP
 * connection sends one header first, naming the client it came from, so that
 * the server behind it sees the real client's address and not its own.
 *
 * - {@linkcode readProxyHeader} reads exactly one header from a connection,
 *   never a byte more, under a deadline and a size limit;
 * - {@linkcode formatProxyHeader} and {@linkcode writeProxyHeader} make one,
 *   for a proxy written with this module or for tests;
 * - the `proxy` option of `serve()`, `serveTcp()` and `serveUnix()` (see
 *   {@linkcode ProxyOptions}) reads the header from the proxies it trusts only,
 *   and hands the handler a connection whose `remoteAddr` and `localAddr` are
 *   the ones the header names.
 *
 * @example Serve behind HAProxy's `send-proxy-v2`
 * ```ts
 * import { serveTcp } from "@sockets/net/tcp";
 * import { writeProxyHeader } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   proxy: { trusted: ["127.0.0.1"] },
 * }, async (conn) => {
 *   const addr = conn.remoteAddr as Deno.NetAddr;
 *   await conn.write(new TextEncoder().encode(`${addr.hostname}\n`));
 * });
 *
 * // What HAProxy does for a client at 203.0.113.7:
 * using conn = await Deno.connect({ port: server.addr.port });
 * await writeProxyHeader(conn, {
 *   remoteAddr: { transport: "tcp", hostname: "203.0.113.7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "192.0.2.1", port: 443 },
 * });
 * assertEquals(await new Response(conn.readable).text(), "203.0.113.7\n");
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import { ipFamily } from "./_address.ts";
import { abortable, deadline } from "./_async.ts";
import { parseIp } from "./_cidr.ts";
import { crc32c } from "./_crc32c.ts";
import {
  assertHeaderSize,
  DEFAULT_MAX_PROXY_HEADER_SIZE,
  DEFAULT_PROXY_HEADER_TIMEOUT_MS,
  missingBytes,
  parseHeader,
  PP2_TYPE_CRC32C,
  PROXY_V1_MAX_SIZE,
  startsWith,
  V2_FIXED_SIZE,
  V2_SIGNATURE,
} from "./_proxy_header.ts";
import {
  assertKnownOptions,
  assertMilliseconds,
  assertSignal,
  show,
} from "./_validate.ts";
import { writeAll } from "./io.ts";

/**
 * The names of the TLV types the specification defines (section 2.2.7).
 *
 * @example Find a TLV by its name
 * ```ts
 * import {
 *   formatProxyHeader,
 *   parseProxyHeader,
 *   type ProxyTlvName,
 * } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * const header = parseProxyHeader(formatProxyHeader({
 *   remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "192.0.2.1", port: 443 },
 *   tlvs: [{ type: 0x02, value: new TextEncoder().encode("example.com") }],
 * }));
 * const wanted: ProxyTlvName = "AUTHORITY";
 * const authority = header.tlvs.find((tlv) => tlv.name === wanted);
 * assertEquals(new TextDecoder().decode(authority?.value), "example.com");
 * ```
 */
export type ProxyTlvName =
  | "ALPN"
  | "AUTHORITY"
  | "CRC32C"
  | "NOOP"
  | "UNIQUE_ID"
  | "SSL"
  | "NETNS";

/**
 * One type-length-value field of a version 2 header.
 *
 * @example The ALPN a client negotiated with the proxy
 * ```ts
 * import type { ProxyTlv } from "@sockets/net/proxy";
 *
 * const tlv: ProxyTlv = {
 *   type: 0x01,
 *   name: "ALPN",
 *   value: new TextEncoder().encode("h2"),
 * };
 * ```
 */
export interface ProxyTlv {
  /** The type byte, 0 to 255. */
  readonly type: number;
  /** The specification's name for `type`, when it defines one. */
  readonly name?: ProxyTlvName;
  /** The value bytes, as sent. */
  readonly value: Uint8Array;
}

/**
 * A parsed PROXY protocol header.
 *
 * @example What a header from HAProxy says
 * ```ts
 * import { formatProxyHeader, parseProxyHeader } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = formatProxyHeader({
 *   remoteAddr: { transport: "tcp", hostname: "2001:db8::7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "2001:db8::1", port: 443 },
 * });
 * const header = parseProxyHeader(bytes);
 * assertEquals(header.command, "PROXY");
 * assertEquals((header.remoteAddr as Deno.NetAddr).hostname, "2001:db8::7");
 * ```
 */
export interface ProxyHeader {
  /** 1 for the text header, 2 for the binary one. */
  readonly version: 1 | 2;
  /**
   * `"PROXY"` for a relayed connection; `"LOCAL"` for one the proxy opened
   * itself, such as a health check, whose own addresses are the real ones.
   */
  readonly command: "PROXY" | "LOCAL";
  /** The client as the proxy saw it; absent for LOCAL, `UNKNOWN` and unspecified families. */
  readonly remoteAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** The address the client connected to, at the proxy; absent when `remoteAddr` is. */
  readonly localAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** The TLVs of a version 2 header, in order; empty for version 1. */
  readonly tlvs: readonly ProxyTlv[];
  /** The header's size in bytes. */
  readonly size: number;
}

/**
 * What {@linkcode formatProxyHeader} writes.
 *
 * @example A version 1 header
 * ```ts
 * import { formatProxyHeader, type ProxyHeaderInit } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * const init: ProxyHeaderInit = {
 *   version: 1,
 *   remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "192.0.2.1", port: 80 },
 * };
 * assertEquals(
 *   new TextDecoder().decode(formatProxyHeader(init)),
 *   "PROXY TCP4 192.0.2.7 192.0.2.1 50000 80\r\n",
 * );
 * ```
 */
export interface ProxyHeaderInit {
  /**
   * The protocol version.
   *
   * @default {2}
   */
  version?: 1 | 2;
  /**
   * `"LOCAL"` (version 2 only) for a connection of the proxy's own.
   *
   * @default {"PROXY"}
   */
  command?: "PROXY" | "LOCAL";
  /** The client; both addresses or neither (an `UNKNOWN` or unspecified header). */
  remoteAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** The address the client connected to. */
  localAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** TLVs to append (version 2 only). */
  tlvs?: readonly { type: number; value: Uint8Array }[];
  /**
   * Append a CRC32C TLV over the whole header (version 2 only).
   *
   * @default {false}
   */
  crc32c?: boolean;
}

/**
 * Options of {@linkcode readProxyHeader}.
 *
 * @example A deadline for the header
 * ```ts
 * import type { ReadProxyHeaderOptions } from "@sockets/net/proxy";
 *
 * const options: ReadProxyHeaderOptions = { timeout: 5_000 };
 * ```
 */
export interface ReadProxyHeaderOptions {
  /**
   * Milliseconds for the whole header; then the call rejects with
   * `Deno.errors.TimedOut`. `Infinity` sets no limit.
   *
   * @default {undefined} (no limit)
   */
  timeout?: number;
  /** Aborting it rejects the call with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The largest header accepted, in bytes, at least 107 (the longest
   * version 1 line); a version 2 header that announces more is refused
   * before its body is read.
   *
   * @default {4096}
   */
  maxHeaderSize?: number;
}

/**
 * The `proxy` option of `serve()`, `serveTcp()` and `serveUnix()`: which
 * peers are proxies whose PROXY header is trusted.
 *
 * A connection from a trusted proxy must begin with a header within
 * `timeout`, else it is closed and the error reported to `onError`. A LOCAL
 * header (HAProxy's `check-send-proxy` health checks) is answered by
 * closing the connection, without running the handler. Otherwise the
 * handler runs with `conn.remoteAddr` and `conn.localAddr` set to the
 * header's addresses (or left as they are for `UNKNOWN`), and reads the
 * connection from the first byte after the header.
 *
 * A connection from any other peer is never read for a header, so it cannot
 * pose as another client: it is served as it is, with its own address, or,
 * with `required: true`, closed before its handler runs and reported to
 * `onError`.
 *
 * @example Trust the load balancers of one subnet, and nobody else
 * ```ts
 * import type { ProxyOptions } from "@sockets/net/proxy";
 *
 * const proxy: ProxyOptions = {
 *   trusted: ["10.0.0.0/24", "fd00::/64"],
 *   required: true,
 * };
 * ```
 */
export interface ProxyOptions {
  /**
   * The proxies' addresses and CIDR ranges (`"127.0.0.1"`, `"10.0.0.0/8"`,
   * `"2001:db8::/32"`); an IPv4 entry also matches its IPv4-mapped IPv6
   * form. `"unix"` trusts every peer of a Unix socket, whose file mode
   * decides who may connect.
   */
  trusted: readonly string[];
  /**
   * Milliseconds a trusted proxy has to send the whole header.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * Close connections that do not come from a trusted proxy, instead of
   * serving them with their own address.
   *
   * @default {false}
   */
  required?: boolean;
  /**
   * The largest header accepted, in bytes, as in {@linkcode readProxyHeader}.
   *
   * @default {4096}
   */
  maxHeaderSize?: number;
}

export { DEFAULT_MAX_PROXY_HEADER_SIZE, DEFAULT_PROXY_HEADER_TIMEOUT_MS };

const READ_OPTION_NAMES = ["timeout", "signal", "maxHeaderSize"];

/**
 * Reads one PROXY protocol header (version 1 or 2) from the start of a
 * connection, and not a byte more: what follows the header stays unread for
 * whoever reads the connection next. To stay exact without buffering, it
 * reads in short steps, each no longer than what the header still needs at
 * the least: a version 2 header takes three reads, a version 1 line a few
 * more. A CRC32C TLV, when present, is checked.
 *
 * When `timeout` passes or `signal` aborts, the call rejects while its last
 * read may still be pending: close the connection then (it can no longer be
 * read in order anyway).
 *
 * @param reader A `Deno.Conn`, or anything with its `read(buffer)`.
 * @param options A deadline, a signal and a size limit.
 * @returns The header.
 * @throws {Deno.errors.InvalidData} If the bytes are not a valid header, or
 * the header is larger than `maxHeaderSize`, or its CRC32C does not match.
 * @throws {Deno.errors.UnexpectedEof} If the connection ends within the header.
 * @throws {Deno.errors.TimedOut} If `timeout` passes first.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If `timeout` or `maxHeaderSize` is out of range.
 *
 * @example Read the header, then the client's own bytes
 * ```ts
 * import { formatProxyHeader, readProxyHeader } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({ port: listener.addr.port });
 * using conn = await listener.accept();
 * await client.write(new Uint8Array([
 *   ...new TextEncoder().encode("PROXY TCP4 198.51.100.9 192.0.2.1 40000 80\r\n"),
 *   ...new TextEncoder().encode("GET /"),
 * ]));
 * const header = await readProxyHeader(conn, { timeout: 5_000 });
 * assertEquals(header.remoteAddr, {
 *   transport: "tcp",
 *   hostname: "198.51.100.9",
 *   port: 40000,
 * });
 * const rest = new Uint8Array(5);
 * await conn.read(rest);
 * assertEquals(new TextDecoder().decode(rest), "GET /");
 * ```
 */
export async function readProxyHeader(
  reader: { read(buffer: Uint8Array): Promise<number | null> },
  options: ReadProxyHeaderOptions = {},
): Promise<ProxyHeader> {
  if (
    reader === null || typeof reader !== "object" ||
    typeof (reader as { read?: unknown }).read !== "function"
  ) {
    throw new TypeError(
      `reader must be a Deno.Conn or have a read(buffer) method, got ${
        show(reader)
      }`,
    );
  }
  assertKnownOptions(options, READ_OPTION_NAMES);
  const { timeout, signal } = options;
  assertMilliseconds(timeout, "options.timeout");
  assertSignal(signal, "options.signal");
  const maxHeaderSize = assertHeaderSize(options.maxHeaderSize);
  using limit = deadline(
    timeout,
    signal,
    () =>
      new Deno.errors.TimedOut(
        `read PROXY header: no complete header within ${timeout} ms; the peer is slow or sends none: check that it is a proxy with send-proxy set, or raise the timeout`,
      ),
  );
  let buffer = new Uint8Array(V2_FIXED_SIZE);
  let n = 0;
  for (;;) {
    const need = missingBytes(buffer, n, maxHeaderSize);
    if (need === 0) return parseHeader(buffer.subarray(0, n));
    if (n + need > buffer.length) {
      // A v2 body's size is known here; a v1 line gets its longest size once.
      const grown = new Uint8Array(
        startsWith(buffer, V2_SIGNATURE, n) ? n + need : PROXY_V1_MAX_SIZE,
      );
      grown.set(buffer.subarray(0, n));
      buffer = grown;
    }
    const read = await abortable(
      reader.read(buffer.subarray(n, n + need)),
      limit.signal,
    );
    if (read === null) {
      throw new Deno.errors.UnexpectedEof(
        `read PROXY header: the connection ended after ${n} bytes of the header`,
      );
    }
    if (!(read > 0 && read <= need)) {
      throw new RangeError(
        `read PROXY header: read() returned ${read} for a buffer of ${need} bytes`,
      );
    }
    n += read;
  }
}

/**
 * Parses one complete header held in `bytes`, as a proxy's own reader has
 * delimited it: exactly the header, nothing before or after it. A CRC32C TLV,
 * when present, is checked.
 *
 * @param bytes The header, version 1 or 2.
 * @returns The header.
 * @throws {Deno.errors.InvalidData} If `bytes` is not exactly one valid header.
 *
 * @example Parse a version 1 line
 * ```ts
 * import { parseProxyHeader } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * const header = parseProxyHeader(
 *   new TextEncoder().encode("PROXY TCP6 2001:db8::7 2001:db8::1 50000 443\r\n"),
 * );
 * assertEquals((header.remoteAddr as Deno.NetAddr).hostname, "2001:db8::7");
 * ```
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`bytes must be a Uint8Array, got ${show(bytes)}`);
  }
  const need = missingBytes(bytes, bytes.length, V2_FIXED_SIZE + 0xffff);
  if (need !== 0) {
    throw new Deno.errors.InvalidData(
      `parse PROXY header: ${bytes.length} bytes are not exactly one header (${
        need > 0 ? `${need} more at least` : `${-need} too many`
      }); pass exactly one header`,
    );
  }
  return parseHeader(bytes);
}

const FORMAT_OPTION_NAMES = [
  "version",
  "command",
  "remoteAddr",
  "localAddr",
  "tlvs",
  "crc32c",
];

/**
 * Makes a PROXY protocol header: version 2 by default, as HAProxy's
 * `send-proxy-v2` sends it, or the version 1 text line.
 *
 * Version 1 carries TCP addresses of one family, or none (`UNKNOWN`).
 * Version 2 carries TCP or UDP addresses of one family, Unix socket paths,
 * or none; TLVs; and a CRC32C over the whole header when `crc32c` is set.
 *
 * @param init What the header says.
 * @returns The header's bytes.
 * @throws {TypeError} If the addresses do not fit the version: of two
 * families, of a transport version 1 cannot carry, or only one of the two.
 * @throws {RangeError} If a TLV's type or length is out of range.
 *
 * @example A LOCAL header, as a health check sends it
 * ```ts
 * import { formatProxyHeader, parseProxyHeader } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * const header = parseProxyHeader(formatProxyHeader({ command: "LOCAL" }));
 * assertEquals(header.command, "LOCAL");
 * ```
 */
export function formatProxyHeader(init: ProxyHeaderInit = {}): Uint8Array {
  if (init === null || typeof init !== "object") {
    throw new TypeError(`init must be an object, got ${show(init)}`);
  }
  assertKnownOptions(init, FORMAT_OPTION_NAMES, "init");
  const { version = 2, command = "PROXY", remoteAddr, localAddr } = init;
  if (version !== 1 && version !== 2) {
    throw new TypeError(`init.version must be 1 or 2, got ${show(version)}`);
  }
  if (command !== "PROXY" && command !== "LOCAL") {
    throw new TypeError(
      `init.command must be "PROXY" or "LOCAL", got ${show(command)}`,
    );
  }
  if ((remoteAddr === undefined) !== (localAddr === undefined)) {
    throw new TypeError(
      "init.remoteAddr and init.localAddr go together: give both, or neither for a header without addresses",
    );
  }
  if (version === 1) {
    if (command === "LOCAL" || init.tlvs?.length || init.crc32c) {
      throw new TypeError(
        "version 1 has no LOCAL command, TLVs or CRC32C: use version 2",
      );
    }
    return formatV1(remoteAddr, localAddr);
  }
  return formatV2(init, command, remoteAddr, localAddr);
}

function ipOf(addr: Deno.NetAddr | Deno.UnixAddr, name: string) {
  const hostname = (addr as Deno.NetAddr).hostname;
  const port = (addr as Deno.NetAddr).port;
  const bytes = typeof hostname === "string" ? parseIp(hostname) : undefined;
  if (
    bytes === undefined || !Number.isInteger(port) || port < 0 || port > 65535
  ) {
    throw new TypeError(
      `${name} must be an IP address literal with a port from 0 to 65535, got ${
        show(addr)
      }`,
    );
  }
  return { hostname, port, bytes, family: ipFamily(hostname)! };
}

function formatV1(
  remoteAddr: Deno.NetAddr | Deno.UnixAddr | undefined,
  localAddr: Deno.NetAddr | Deno.UnixAddr | undefined,
): Uint8Array {
  if (remoteAddr === undefined || localAddr === undefined) {
    return new TextEncoder().encode("PROXY UNKNOWN\r\n");
  }
  const src = ipOf(remoteAddr, "init.remoteAddr");
  const dst = ipOf(localAddr, "init.localAddr");
  if (
    src.family !== dst.family || remoteAddr.transport !== "tcp" ||
    localAddr.transport !== "tcp"
  ) {
    throw new TypeError(
      "version 1 carries two TCP addresses of one family: convert them to the same family or use version 2",
    );
  }
  return new TextEncoder().encode(
    `PROXY TCP${src.family} ${src.hostname.split("%")[0]} ${
      dst.hostname.split("%")[0]
    } ${src.port} ${dst.port}\r\n`,
  );
}

function formatV2(
  init: ProxyHeaderInit,
  command: "PROXY" | "LOCAL",
  remoteAddr: Deno.NetAddr | Deno.UnixAddr | undefined,
  localAddr: Deno.NetAddr | Deno.UnixAddr | undefined,
): Uint8Array {
  let familyByte = 0x00;
  let addresses = new Uint8Array(0);
  if (remoteAddr !== undefined && localAddr !== undefined) {
    if (remoteAddr.transport === "unix" && localAddr.transport === "unix") {
      familyByte = 0x31;
      addresses = new Uint8Array(216);
      for (const [i, addr] of [remoteAddr, localAddr].entries()) {
        const path = new TextEncoder().encode(addr.path);
        if (path.length > 108) {
          throw new TypeError(
            `a Unix socket path has at most 108 bytes, got ${path.length} for ${
              show(addr.path)
            }`,
          );
        }
        addresses.set(path, i * 108);
      }
    } else {
      const src = ipOf(remoteAddr, "init.remoteAddr");
      const dst = ipOf(localAddr, "init.localAddr");
      const transport = remoteAddr.transport;
      if (
        transport !== localAddr.transport ||
        (transport !== "tcp" && transport !== "udp")
      ) {
        throw new TypeError(
          `init.remoteAddr and init.localAddr must both be tcp, udp or unix addresses, got ${transport} and ${localAddr.transport}`,
        );
      }
      // Mixed families go as IPv6, the IPv4 one in its mapped form.
      const v4 = src.family === 4 && dst.family === 4;
      const size = v4 ? 4 : 16;
      familyByte = (v4 ? 0x10 : 0x20) | (transport === "tcp" ? 1 : 2);
      addresses = new Uint8Array(size * 2 + 4);
      addresses.set(v4 ? src.bytes.subarray(12) : src.bytes, 0);
      addresses.set(v4 ? dst.bytes.subarray(12) : dst.bytes, size);
      const view = new DataView(addresses.buffer);
      view.setUint16(size * 2, src.port);
      view.setUint16(size * 2 + 2, dst.port);
    }
  }
  const tlvs = [...(init.tlvs ?? [])];
  if (init.crc32c) {
    tlvs.push({ type: PP2_TYPE_CRC32C, value: new Uint8Array(4) });
  }
  let length = addresses.length;
  for (const [i, tlv] of tlvs.entries()) {
    if (
      !Number.isInteger(tlv?.type) || tlv.type < 0 || tlv.type > 255 ||
      !(tlv.value instanceof Uint8Array)
    ) {
      throw new RangeError(
        `init.tlvs[${i}] must be { type: 0 to 255, value: Uint8Array }, got ${
          show(tlv)
        }`,
      );
    }
    length += 3 + tlv.value.length;
  }
  if (length > 0xffff) {
    throw new RangeError(
      `a v2 header holds at most 65535 bytes after its fixed part, got ${length}: send fewer or shorter TLVs`,
    );
  }
  const bytes = new Uint8Array(V2_FIXED_SIZE + length);
  const view = new DataView(bytes.buffer);
  bytes.set(V2_SIGNATURE);
  bytes[12] = command === "PROXY" ? 0x21 : 0x20;
  bytes[13] = familyByte;
  view.setUint16(14, length);
  bytes.set(addresses, V2_FIXED_SIZE);
  let offset = V2_FIXED_SIZE + addresses.length;
  for (const tlv of tlvs) {
    bytes[offset] = tlv.type;
    view.setUint16(offset + 1, tlv.value.length);
    bytes.set(tlv.value, offset + 3);
    offset += 3 + tlv.value.length;
  }
  if (init.crc32c) view.setUint32(bytes.length - 4, crc32c(bytes));
  return bytes;
}

/**
 * Writes a PROXY protocol header to `conn`, as {@linkcode formatProxyHeader}
 * makes it: what a proxy sends first on the connection it opens to a server.
 *
 * @param conn The connection to the server, or anything with `write(data)`.
 * @param init What the header says.
 * @returns A promise that resolves once the whole header is written.
 * @throws {TypeError} As {@linkcode formatProxyHeader}.
 *
 * @example Relay a client's address to a server
 * ```ts
 * import { readProxyHeader, writeProxyHeader } from "@sockets/net/proxy";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using upstream = await Deno.connect({ port: listener.addr.port });
 * using conn = await listener.accept();
 * await writeProxyHeader(upstream, {
 *   remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 50000 },
 *   localAddr: { transport: "tcp", hostname: "192.0.2.1", port: 80 },
 *   crc32c: true,
 * });
 * const header = await readProxyHeader(conn);
 * assertEquals(header.tlvs.map((tlv) => tlv.name), ["CRC32C"]);
 * ```
 */
export async function writeProxyHeader(
  conn: { write(data: Uint8Array): Promise<number> },
  init: ProxyHeaderInit = {},
): Promise<void> {
  await writeAll(conn, formatProxyHeader(init));
}
