// deno run --allow-net=127.0.0.1 examples/tcp_echo_server.ts
/**
 * An echo server: every byte a client sends comes back, until the client
 * closes its side. Concurrent by default; `--max-connections 1` makes it
 * iterative, and `--idle-timeout` drops clients that stop talking.
 * Behind HAProxy (see `examples/haproxy.cfg`), `--proxy-from 127.0.0.1`
 * trusts the PROXY header of the proxy at that address, and logs each
 * client's real address.
 *
 * Try it with `nc 127.0.0.1 7007`, or with `examples/tcp_echo_client.ts`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { copy } from "@sockets/net/io";
import { serveTcp } from "@sockets/net/tcp";

/** The echo service is port 7, which needs root: this one listens above 1024. */
const DEFAULT_PORT = 7007;

const USAGE = `Usage: tcp_echo_server.ts [options]

Sends every byte back to the client that sent it.

  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --max-connections N      clients served at once; 1 serves one at a time
  --idle-timeout MS        close a client silent for this long
  --proxy-from ADDR        trust PROXY protocol headers from this proxy address
                           or CIDR range (repeatable), and log each client
  --help                   show this help`;

function optionalNumber(
  text: string | undefined,
  name: string,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || Number.isNaN(value)) {
    throw new TypeError(`--${name} must be a number, got "${text}"`);
  }
  return value;
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "max-connections", "idle-timeout"],
    collect: ["proxy-from"],
    boolean: ["help"],
    default: { hostname: "127.0.0.1", port: String(DEFAULT_PORT) },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const proxyFrom = ((flags["proxy-from"] ?? []) as unknown[]).map(String);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = serveTcp({
      hostname: flags.hostname,
      port: flags.port,
      maxConnections: optionalNumber(
        flags["max-connections"],
        "max-connections",
      ),
      idleTimeout: optionalNumber(flags["idle-timeout"], "idle-timeout"),
      proxy: proxyFrom.length > 0 ? { trusted: proxyFrom } : undefined,
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, (conn) => {
      if (proxyFrom.length > 0) {
        console.log(`client ${formatAddress(conn.remoteAddr)}`);
      }
      return copy(conn, conn);
    });
    console.log(`listening on ${formatAddress(server.addr)}`);
    await server.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
