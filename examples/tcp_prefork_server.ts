// deno run --unstable-net --allow-net=127.0.0.1 --allow-read=. examples/tcp_prefork_server.ts
/**
 * A prefork echo server: a pool of workers, each with its own listener on
 * the same port (`SO_REUSEPORT`, Linux), so that the kernel spreads the
 * clients over the workers and the echo runs on every core. A worker that
 * dies is replaced; Ctrl-C lets every worker finish its clients, then stops.
 *
 * This file is both the program and the handler module: each worker imports
 * it and serves with its default export, while `import.meta.main` keeps the
 * program part from running in the workers. Workers read the modules they
 * load, hence `--allow-read=.` (this package's files and this one).
 *
 * Try it with `nc 127.0.0.1 7007`, or with `examples/tcp_echo_client.ts`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { copy } from "@sockets/net/io";
import { serveWorkers } from "@sockets/net/workers";

/** The echo service is port 7, which needs root: this one listens above 1024. */
const DEFAULT_PORT = 7007;

const USAGE = `Usage: tcp_prefork_server.ts [options]

Sends every byte back to the client that sent it, from a pool of workers
that share one port (Linux only).

  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --workers N              how many workers (default: one per CPU core, ${navigator.hardwareConcurrency} here)
  --max-connections N      clients each worker serves at once
  --help                   show this help`;

/** The handler that every worker serves with. */
export default function echo(conn: Deno.TcpConn): Promise<number> {
  return copy(conn, conn);
}

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
    string: ["hostname", "port", "workers", "max-connections"],
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
    const pool = await serveWorkers(import.meta.url, {
      hostname: flags.hostname,
      port: flags.port,
      workers: optionalNumber(flags.workers, "workers"),
      maxConnections: optionalNumber(
        flags["max-connections"],
        "max-connections",
      ),
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    });
    console.log(`listening on ${formatAddress(pool.addr)}`);
    console.log(`${pool.workers} workers`);
    await pool.finished;
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
