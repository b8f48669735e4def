// deno run --allow-read=/tmp/sockets-net/echo.sock --allow-write=/tmp/sockets-net/echo.sock --allow-net=unix:/tmp/sockets-net/echo.sock examples/unix_client.ts
// deno run --allow-net examples/unix_client.ts --path @sockets-echo
/**
 * A Unix socket client: it sends its standard input to the server, closes
 * its sending side at the end of the input, and prints what comes back until
 * the server closes too.
 *
 * Try it with `echo hello | deno run --allow-read=/tmp/sockets-net/echo.sock --allow-write=/tmp/sockets-net/echo.sock --allow-net=unix:/tmp/sockets-net/echo.sock examples/unix_client.ts`
 * while `examples/unix_echo_server.ts` runs. A path that starts with `@` is
 * a Linux abstract name (`@sockets-echo` is `"\0sockets-echo"`),
 * which needs only a bare `--allow-net`; write `./@name` for such a file.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy } from "@sockets/net/io";
import { connectUnix } from "@sockets/net/unix";

/** The socket of `examples/unix_echo_server.ts`. */
const DEFAULT_PATH = "/tmp/sockets-net/echo.sock";

/** How long to wait for a connection by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

const USAGE = `Usage: unix_client.ts [--path PATH] [--timeout MS]

Sends standard input to a Unix socket server and prints the answer.

  --path PATH      socket file of the server (default ${DEFAULT_PATH}),
                   or @NAME for an abstract name (Linux)
  --timeout MS     give up connecting after this long (default ${DEFAULT_TIMEOUT_MS})
  --help           show this help`;

/** A `--path` as a socket path: `@name` is the abstract name `"\0name"`. */
function socketPath(text: string): string {
  return text.startsWith("@") ? `\0${text.slice(1)}` : text;
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["path", "timeout"],
    boolean: ["help"],
    default: { path: DEFAULT_PATH, timeout: String(DEFAULT_TIMEOUT_MS) },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  using conn = await connectUnix(socketPath(flags.path), {
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
    // Standard input may still be open (a terminal): the answer is over.
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
