// deno run --unstable-net --allow-net=127.0.0.1 examples/udp_echo_server.ts
/**
 * A UDP echo server: every datagram comes back to its sender, whole, as one
 * datagram. Nothing is retransmitted: a datagram lost on the way is lost.
 * `--max-concurrency 1` makes it iterative.
 *
 * Try it with `examples/udp_client.ts`, or `socat - UDP:127.0.0.1:7007`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { serveUdp } from "@sockets/net/udp";

/** The echo service is port 7, which needs root: this one listens above 1024. */
const DEFAULT_PORT = 7007;

const USAGE = `Usage: udp_echo_server.ts [options]

Sends every datagram back to the address that sent it.

  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --max-concurrency N      datagrams handled at once; 1 handles one at a time
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
    string: ["hostname", "port", "max-concurrency"],
    boolean: ["help"],
    default: { hostname: "127.0.0.1", port: String(DEFAULT_PORT) },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = serveUdp({
      hostname: flags.hostname,
      port: flags.port,
      maxConcurrency: optionalNumber(
        flags["max-concurrency"],
        "max-concurrency",
      ),
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, (data) => data);
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
