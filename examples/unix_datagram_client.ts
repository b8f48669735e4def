// deno run --unstable-net --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net=unix:/tmp/sockets-net/datagram.sock,unix:/tmp/sockets-net/client.sock examples/unix_datagram_client.ts
/**
 * A Unix datagram client: each line of standard input goes to the server as
 * one datagram, and each answer is printed as a line. The client binds its
 * own socket at `--local-path`, so that the server can answer, and removes
 * it at the end. Deno grants Unix socket paths one by one: another
 * `--path` or `--local-path` needs its own `unix:` entry in `--allow-net`.
 *
 * Try it with `printf 'one\ntwo\n' | deno run --unstable-net --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net=unix:/tmp/sockets-net/datagram.sock,unix:/tmp/sockets-net/client.sock examples/unix_datagram_client.ts`
 * while `examples/unix_datagram_server.ts` runs.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { lines } from "@sockets/net/io";
import { connectUnixDatagram } from "@sockets/net/unix";

/** The socket of `examples/unix_datagram_server.ts`. */
const DEFAULT_PATH = "/tmp/sockets-net/datagram.sock";

/** Where the client binds, so that the server's answers can reach it. */
const DEFAULT_LOCAL_PATH = "/tmp/sockets-net/client.sock";

/** Datagrams can be lost: how long to wait for each answer by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

const USAGE = `Usage: unix_datagram_client.ts [options]

Sends each line of standard input as a datagram and prints the answers.

  --path PATH      socket file of the server (default ${DEFAULT_PATH})
  --local-path P   the client's own socket file (default ${DEFAULT_LOCAL_PATH})
  --timeout MS     wait this long for each answer (default ${DEFAULT_TIMEOUT_MS})
  --help           show this help`;

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["path", "local-path", "timeout"],
    boolean: ["help"],
    default: {
      path: DEFAULT_PATH,
      "local-path": DEFAULT_LOCAL_PATH,
      timeout: String(DEFAULT_TIMEOUT_MS),
    },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const timeout = Number(flags.timeout);
  await using client = await connectUnixDatagram(flags.path, {
    localPath: flags["local-path"],
  });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  for await (const line of lines(Deno.stdin)) {
    await client.send(encoder.encode(line));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const receiving = client.receive();
    // Closing the client on a timeout ends this receive with an error.
    receiving.catch(() => {});
    const answer = await Promise.race([
      receiving,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeout);
      }),
    ]);
    clearTimeout(timer);
    if (answer === undefined) {
      throw new Error(
        `no answer from ${flags.path} within ${timeout} ms; is the server running?`,
      );
    }
    console.log(decoder.decode(answer));
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
