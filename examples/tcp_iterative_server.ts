// deno run --allow-net=127.0.0.1 examples/tcp_iterative_server.ts
/**
 * The iterative server of the classic tutorial: one client at a time, the
 * next ones waiting in the kernel's listen backlog. Each client sends its
 * name on one line and hears which visitor it is. Serving one client at a
 * time is what lets the count be a plain variable: no two handlers ever run
 * at once. `--idle-timeout` keeps a silent client from holding the queue.
 *
 * Try it with `echo Ada | nc -N 127.0.0.1 7008`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { lines, writeAll } from "@sockets/net/io";
import { serveTcp } from "@sockets/net/tcp";

/** Next to the echo example's 7007. */
const DEFAULT_PORT = 7008;

/** A silent client holds every other one up: drop it after this long. */
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

/** A name is one short line; a longer one is an error, not a memory cost. */
const MAX_NAME_LENGTH = 256;

const USAGE = `Usage: tcp_iterative_server.ts [options]

Serves one client at a time: reads a name, answers "hello NAME, you are
visitor #N", and closes.

  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --idle-timeout MS        drop a client silent for this long (default ${DEFAULT_IDLE_TIMEOUT_MS})
  --help                   show this help`;

const encoder = new TextEncoder();

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "idle-timeout"],
    boolean: ["help"],
    default: {
      hostname: "127.0.0.1",
      port: String(DEFAULT_PORT),
      "idle-timeout": String(DEFAULT_IDLE_TIMEOUT_MS),
    },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const idleTimeout = Number(flags["idle-timeout"]);
  if (flags["idle-timeout"].trim() === "" || Number.isNaN(idleTimeout)) {
    throw new TypeError(
      `--idle-timeout must be a number of milliseconds, got "${
        flags["idle-timeout"]
      }"`,
    );
  }
  let visitors = 0;
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = serveTcp({
      hostname: flags.hostname,
      port: flags.port,
      maxConnections: 1,
      idleTimeout,
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, async (conn) => {
      for await (
        const name of lines(conn, { maxLineLength: MAX_NAME_LENGTH })
      ) {
        visitors += 1;
        await writeAll(
          conn,
          encoder.encode(`hello ${name}, you are visitor #${visitors}\n`),
        );
        return;
      }
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
