// deno run --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net=unix:/tmp/sockets-net/echo.sock,unix:/tmp/sockets-net/.echo.sock/s examples/unix_echo_server.ts
// deno run --allow-net examples/unix_echo_server.ts --path @sockets-echo
/**
 * An echo server on a Unix socket: every byte a client sends comes back,
 * until the client closes its side. A stale socket file left by a crashed
 * run is replaced; the file is removed again when the server stops.
 *
 * The server binds at `DIR/.NAME/s` before it links its socket into place
 * at `DIR/NAME` (see `@sockets/net/unix`), hence the second `unix:` path in
 * the permissions; another `--path` needs its own pair.
 *
 * A path that starts with `@` is a Linux abstract name, written the way
 * `ss` and `socat` print one: `--path @sockets-echo` listens on
 * `"\0sockets-echo"`, which has no file, so nothing to create, replace
 * or remove, and no `--mode`; it needs only a bare `--allow-net` (a
 * `unix:` grant cannot name it). For a file whose name starts with `@`,
 * write `./@name`.
 *
 * Try it with `nc -U /tmp/sockets-net/echo.sock` (`socat -
 * ABSTRACT-CONNECT:sockets-echo` for the abstract name), or with
 * `examples/unix_client.ts`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy } from "@sockets/net/io";
import { formatAddress } from "@sockets/net/resolve";
import { serveUnix } from "@sockets/net/unix";

/** A directory of its own, so that the permissions name it and nothing more. */
const DEFAULT_PATH = "/tmp/sockets-net/echo.sock";

const USAGE = `Usage: unix_echo_server.ts [options]

Sends every byte back to the client that sent it, over a Unix socket.

  --path PATH              socket file (default ${DEFAULT_PATH}),
                           or @NAME for an abstract name (Linux)
  --mode MODE              octal permission bits of the socket, e.g. 600
  --max-connections N      clients served at once; 1 serves one at a time
  --idle-timeout MS        close a client silent for this long
  --help                   show this help`;

function optionalNumber(
  text: string | undefined,
  name: string,
  radix = 10,
): number | undefined {
  if (text === undefined) return undefined;
  const value = radix === 8 ? parseInt(text, 8) : Number(text);
  if (text.trim() === "" || Number.isNaN(value)) {
    throw new TypeError(`--${name} must be a number, got "${text}"`);
  }
  return value;
}

/** A `--path` as a socket path: `@name` is the abstract name `"\0name"`. */
function socketPath(text: string): string {
  return text.startsWith("@") ? `\0${text.slice(1)}` : text;
}

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
    string: ["path", "mode", "max-connections", "idle-timeout"],
    boolean: ["help"],
    default: { path: DEFAULT_PATH },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const path = socketPath(flags.path);
  // An abstract name has no file, hence no directory.
  if (!path.startsWith("\0")) await makeDirectoryOf(path);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = await serveUnix({
      path,
      mode: optionalNumber(flags.mode, "mode", 8),
      maxConnections: optionalNumber(
        flags["max-connections"],
        "max-connections",
      ),
      idleTimeout: optionalNumber(flags["idle-timeout"], "idle-timeout"),
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, (conn) => copy(conn, conn));
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
