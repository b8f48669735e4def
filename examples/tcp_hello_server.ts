// deno run --allow-net=127.0.0.1 examples/tcp_hello_server.ts
/**
 * The classic first server: it listens on the port of the "hello" service
 * (5432 when /etc/services has no such name), writes "Hello World\n" to each
 * client, and closes the connection.
 *
 * Try it with `nc 127.0.0.1 5432`. Ctrl-C stops it after the clients in
 * flight are served.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { serveTcp } from "@sockets/net/tcp";

/** The classic tutorial's port for its hello service. */
const DEFAULT_PORT = 5432;

const USAGE = `Usage: tcp_hello_server.ts [--hostname HOST] [--port PORT]

Writes "Hello World" to every client and closes the connection.

  --hostname HOST  address to listen on (default 127.0.0.1)
  --port PORT      port number or service name (default "hello", else ${DEFAULT_PORT})
  --help           show this help`;

const greeting = new TextEncoder().encode("Hello World\n");

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port"],
    boolean: ["help"],
    default: { hostname: "127.0.0.1", port: "hello" },
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
    const server = serveTcp({
      hostname: flags.hostname,
      port: flags.port,
      defaultPort: DEFAULT_PORT,
      signal: controller.signal,
    }, async (conn) => {
      await conn.write(greeting);
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
