// deno run --allow-net=127.0.0.1 examples/tcp_echo_client.ts
/**
 * An echo client: it sends its standard input to the server, closes its
 * sending side at the end of the input, and prints what comes back until the
 * server closes too. Every address of the host is tried, under one deadline.
 *
 * Try it with `echo hello | deno run --allow-net=127.0.0.1 examples/tcp_echo_client.ts`
 * while `examples/tcp_echo_server.ts` runs.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy } from "@sockets/net/io";
import { connectTcp } from "@sockets/net/tcp";

/** The port of `examples/tcp_echo_server.ts`. */
const DEFAULT_PORT = 7007;

/** How long to wait for a connection by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

const USAGE =
  `Usage: tcp_echo_client.ts [--hostname HOST] [--port PORT] [--timeout MS]

Sends standard input to an echo server and prints the echo.

  --hostname HOST  server to connect to (default 127.0.0.1)
  --port PORT      port number or service name (default ${DEFAULT_PORT})
  --timeout MS     give up connecting after this long (default ${DEFAULT_TIMEOUT_MS})
  --help           show this help`;

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "timeout"],
    boolean: ["help"],
    default: {
      hostname: "127.0.0.1",
      port: String(DEFAULT_PORT),
      timeout: String(DEFAULT_TIMEOUT_MS),
    },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  using conn = await connectTcp({
    hostname: flags.hostname,
    port: flags.port,
    timeout: Number(flags.timeout),
  });
  // When the server closes first, the rest of the input has nowhere to go,
  // and the error of the receiving side already tells why.
  copy(Deno.stdin, conn).then(() => conn.closeWrite()).catch(() => {});
  await copy(conn, Deno.stdout);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
    // Standard input may still be open (a terminal): the echo is over.
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
