// deno run --allow-net=127.0.0.1 examples/tcp_hello_client.ts
/**
 * The classic first client: it connects to the "hello" service (5432 when
 * /etc/services has no such name) and prints what the server sends, reading
 * until `read()` returns end of stream, since one read may return any part of
 * the message.
 *
 * Try it while `examples/tcp_hello_server.ts` runs.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { writeAll } from "@sockets/net/io";
import { connectTcp } from "@sockets/net/tcp";

/** The classic tutorial's port for its hello service. */
const DEFAULT_PORT = 5432;

/** How long to wait for a connection by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

const USAGE = `Usage: tcp_hello_client.ts [--hostname HOST] [--port PORT]

Prints what the hello server sends, until it closes the connection.

  --hostname HOST  server to connect to (default 127.0.0.1)
  --port PORT      port number or service name (default "hello", else ${DEFAULT_PORT})
  --timeout MS     give up connecting after this long (default ${DEFAULT_TIMEOUT_MS})
  --help           show this help`;

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "timeout"],
    boolean: ["help"],
    default: {
      hostname: "127.0.0.1",
      port: "hello",
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
    defaultPort: DEFAULT_PORT,
    timeout: Number(flags.timeout),
  });
  const buffer = new Uint8Array(1024);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    await writeAll(Deno.stdout, buffer.subarray(0, n));
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
