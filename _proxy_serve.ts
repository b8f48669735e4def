// The stream engine's side of the `proxy` option: who is trusted, and what a
// trusted proxy's header does to the connection its handler sees.

import { formatAddress } from "./_address.ts";
import { type Cidr, matchesAny, parseCidr } from "./_cidr.ts";
import {
  assertHeaderSize,
  DEFAULT_PROXY_HEADER_TIMEOUT_MS,
} from "./_proxy_header.ts";
import {
  assertBoolean,
  assertKnownOptions,
  assertMilliseconds,
  show,
} from "./_validate.ts";
import { type ProxyOptions, readProxyHeader } from "./proxy.ts";

const PROXY_OPTION_NAMES = ["trusted", "timeout", "required", "maxHeaderSize"];

/** The `proxy` option, checked and compiled once per server. */
export interface ProxyGate {
  readonly ranges: readonly Cidr[];
  readonly trustUnix: boolean;
  readonly timeout: number;
  readonly required: boolean;
  readonly maxHeaderSize: number;
}

/**
 * Checks the `proxy` option of `serve()` and compiles its ranges.
 *
 * @throws {TypeError} If it or one of its fields has the wrong type.
 * @throws {RangeError} If `timeout` or `maxHeaderSize` is out of range.
 */
export function proxyGate(
  options: ProxyOptions | undefined,
): ProxyGate | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `options.proxy must be an object such as { trusted: ["127.0.0.1"] }, got ${
        show(options)
      }`,
    );
  }
  assertKnownOptions(options, PROXY_OPTION_NAMES, "options.proxy");
  const { trusted } = options;
  if (!Array.isArray(trusted)) {
    throw new TypeError(
      `options.proxy.trusted must be an array of addresses and CIDR ranges such as ["127.0.0.1", "10.0.0.0/8"], got ${
        show(trusted)
      }`,
    );
  }
  assertMilliseconds(options.timeout, "options.proxy.timeout");
  assertBoolean(options.required, "options.proxy.required");
  const ranges: Cidr[] = [];
  let trustUnix = false;
  for (const [i, entry] of trusted.entries()) {
    if (entry === "unix") trustUnix = true;
    else ranges.push(parseCidr(String(entry), `options.proxy.trusted[${i}]`));
  }
  return {
    ranges,
    trustUnix,
    timeout: options.timeout ?? DEFAULT_PROXY_HEADER_TIMEOUT_MS,
    required: options.required ?? false,
    maxHeaderSize: assertHeaderSize(options.maxHeaderSize),
  };
}

/** Whether `addr`, a connection's peer, is one of the gate's proxies. */
function trusts(gate: ProxyGate, addr: Deno.Addr): boolean {
  if (addr.transport === "unix") return gate.trustUnix;
  return addr.transport === "tcp" && matchesAny(gate.ranges, addr.hostname);
}

/**
 * Reads a trusted proxy's header from `conn` and gives `conn` the addresses
 * it names. Resolves `true` when the handler is to run; `false` for a LOCAL
 * header (a health check: nothing to serve), and for a refused peer or a bad
 * or late header, which are reported first unless the server itself ended
 * the connection (a shutdown). Never rejects.
 */
export async function admitProxied(
  conn: Deno.Conn,
  gate: ProxyGate,
  connection: { readonly closedByServer: boolean },
  lifecycle: { report(error: unknown, conn: Deno.Conn): void },
): Promise<boolean> {
  try {
    return await admit(conn, gate);
  } catch (error) {
    if (!connection.closedByServer) lifecycle.report(error, conn);
    return false;
  }
}

/**
 * The part of `admitProxied` that can fail.
 *
 * @throws {Deno.errors.PermissionDenied} When `required` is set and the peer is no trusted proxy.
 * @throws What `readProxyHeader` throws.
 */
async function admit(conn: Deno.Conn, gate: ProxyGate): Promise<boolean> {
  const peer = conn.remoteAddr;
  if (!trusts(gate, peer)) {
    if (!gate.required) return true;
    throw new Deno.errors.PermissionDenied(
      `serve: refused ${
        formatAddress(peer)
      }: it is not a trusted proxy (options.proxy.required); add its address to options.proxy.trusted, or connect through the proxy`,
    );
  }
  let header;
  try {
    header = await readProxyHeader(conn, {
      timeout: gate.timeout,
      maxHeaderSize: gate.maxHeaderSize,
    });
  } catch (error) {
    if (error instanceof Error) {
      error.message = `${error.message} (from ${formatAddress(peer)})`;
    }
    throw error;
  }
  if (header.command === "LOCAL") return false;
  if (header.remoteAddr !== undefined) {
    // A Deno.Conn's addresses are getters of its class, and the handler (and
    // spawnHandler's TCPREMOTEIP) know the client only through them: the
    // instance's own properties are the one way to pass on the header's.
    Object.defineProperties(conn, {
      remoteAddr: { value: header.remoteAddr },
      localAddr: { value: header.localAddr },
    });
  }
  return true;
}
