// deno run --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net=unix:/tmp/sockets-net/exec.sock,unix:/tmp/sockets-net/.exec.sock/s --allow-env=PATH,LANG --allow-run=date examples/unix_exec_server.ts
/**
 * A process-per-connection server on a Unix socket, as `unixserver` of
 * ucspi-unix runs one: every client gets its own run of a command, whose
 * standard input and output are the connection. By default the command is
 * `date`; give another after `--`, and the permission to run it
 * (`--allow-run=cat` for `-- cat`).
 *
 * The command finds `PROTO=UNIX` and `UNIXLOCALPATH` (the socket path) in
 * its environment; of the server's own environment it gets only `PATH` and
 * `LANG` (hence `--allow-env=PATH,LANG`), so no secret of the server reaches
 * a command. `--max-connections N` runs at most N commands at once
 * (`unixserver -c N`, 10 by default as there); more clients wait in the
 * backlog. `--mode 600` keeps other users from connecting.
 *
 * The server binds at `DIR/.NAME/s` before it links its socket into place
 * at `DIR/NAME` (see `@sockets/net/unix`), hence the second `unix:` path in
 * the permissions; another `--path` needs its own pair.
 *
 * Try it with `nc -U /tmp/sockets-net/exec.sock`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { spawnHandler } from "@sockets/net/spawn";
import { serveUnix } from "@sockets/net/unix";

/** A directory of its own, so that the permissions name it and nothing more. */
const DEFAULT_PATH = "/tmp/sockets-net/exec.sock";

/** The command of RFC 867's daytime service. */
const DEFAULT_COMMAND = ["date"];

/** `unixserver`'s default for `-c` (ucspi-unix): the most commands it runs at once. */
const DEFAULT_MAX_CONNECTIONS = 10;

/**
 * The server's variables a command inherits: where to find programs, and
 * the language of its messages. The rest of the server's environment, its
 * secrets among them, stays behind.
 */
const INHERITED_ENV = ["PATH", "LANG"];

/** How long commands still running at Ctrl-C or SIGTERM get to finish before they are stopped. */
const SHUTDOWN_TIMEOUT_MS = 2_000;

const USAGE = `Usage: unix_exec_server.ts [options] [-- COMMAND [ARGS...]]

Runs COMMAND (default: ${
  DEFAULT_COMMAND.join(" ")
}) for every client of a Unix socket, with its
input and output joined to the connection. Running another command needs
--allow-run=COMMAND.

  --path PATH              socket file (default ${DEFAULT_PATH})
  --mode MODE              octal permission bits of the socket, e.g. 600
  --max-connections N      commands run at once; the other clients wait
                           in the backlog (default ${DEFAULT_MAX_CONNECTIONS})
  --idle-timeout MS        stop a command whose client is silent this long
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
    "--": true,
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  if (flags._.length > 0) {
    throw new TypeError(
      `unexpected argument "${
        flags._[0]
      }": put the command after --, as in -- cat`,
    );
  }
  const command = flags["--"].length > 0 ? flags["--"] : DEFAULT_COMMAND;
  const handler = spawnHandler(command, { inheritEnv: INHERITED_ENV });
  await makeDirectoryOf(flags.path);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = await serveUnix({
      path: flags.path,
      mode: optionalNumber(flags.mode, "mode", 8),
      maxConnections: optionalNumber(
        flags["max-connections"],
        "max-connections",
      ) ?? DEFAULT_MAX_CONNECTIONS,
      idleTimeout: optionalNumber(flags["idle-timeout"], "idle-timeout"),
      shutdownTimeout: SHUTDOWN_TIMEOUT_MS,
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, handler);
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
