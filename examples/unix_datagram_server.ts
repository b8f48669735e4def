// deno run --unstable-net --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net examples/unix_datagram_server.ts
/**
 * A datagram echo server on a Unix socket: every datagram from a sender
 * bound to a path goes back to it; datagrams from unbound senders, which
 * cannot be answered, are counted and dropped.
 *
 * Answering needs `--allow-net` without a list: Deno grants Unix socket
 * paths one by one, and each client binds a fresh path of its own.
 *
 * Try it with `examples/unix_datagram_client.ts`, or with
 * `echo hi | socat - UNIX-SENDTO:/tmp/sockets-net/datagram.sock`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { serveUnixDatagram } from "@sockets/net/unix";

/** A directory of its own, so that the permissions name it and nothing more. */
const DEFAULT_PATH = "/tmp/sockets-net/datagram.sock";

const USAGE = `Usage: unix_datagram_server.ts [--path PATH]

Sends every datagram back to the socket that sent it.

  --path PATH      socket file (default ${DEFAULT_PATH})
  --help           show this help`;

/** Creates the socket's directory (owner only) when it is missing. */
async function makeDirectoryOf(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash <= 0) return;
  const directory = path.slice(0, slash);
  try {
    await Deno.mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new Error(
        `cannot create ${directory}: permission denied; run again with --allow-write=${directory}`,
      );
    }
    throw error;
  }
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["path"],
    boolean: ["help"],
    default: { path: DEFAULT_PATH },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  await makeDirectoryOf(flags.path);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let unanswerable = 0;
  try {
    const server = await serveUnixDatagram({
      path: flags.path,
      signal: controller.signal,
      onListen: (addr) => console.log(`listening on ${formatAddress(addr)}`),
      // The sender may be gone already; the server serves on.
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, (data, from) => {
      if (from.path !== "") return data;
      unanswerable++;
    });
    await server.finished;
    if (unanswerable > 0) {
      console.error(`dropped ${unanswerable} datagrams from unbound senders`);
    }
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
