// deno run --allow-net=127.0.0.1 --allow-env=PATH,LANG --allow-run=date examples/tcp_exec_server.ts
/**
 * A process-per-connection server, as inetd and `tcpserver` run one: every
 * client gets its own run of a command, whose standard input and output are
 * the connection. By default the command is `date`, which makes this the
 * daytime service of RFC 867; give another after `--`, and the permission
 * to run it:
 *
 *     deno run --allow-net=127.0.0.1 --allow-env=PATH,LANG --allow-run=cat examples/tcp_exec_server.ts -- cat
 *
 * The command finds the client's address in its environment, as under
 * `tcpserver`: `PROTO=TCP`, `TCPREMOTEIP`, `TCPREMOTEPORT`, `TCPLOCALIP`,
 * `TCPLOCALPORT`. Of the server's own environment it gets only `PATH` and
 * `LANG` (hence `--allow-env=PATH,LANG`): no secret of the server reaches a
 * command. `--max-connections N` runs at most N commands at once
 * (`tcpserver -c N`, 40 by default as there); more clients wait in the
 * backlog.
 *
 * Try it with `nc 127.0.0.1 7013`. Ctrl-C or SIGTERM stops it; commands still running
 * after a grace period are stopped.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { spawnHandler } from "@sockets/net/spawn";
import { serveTcp } from "@sockets/net/tcp";

/** The daytime service is port 13, which needs root: this one listens above 1024. */
const DEFAULT_PORT = 7013;

/** The command of RFC 867's daytime service. */
const DEFAULT_COMMAND = ["date"];

/** `tcpserver`'s default for `-c`: the most commands it runs at once. */
const DEFAULT_MAX_CONNECTIONS = 40;

/**
 * The server's variables a command inherits: where to find programs, and
 * the language of its messages. The rest of the server's environment, its
 * secrets among them, stays behind.
 */
const INHERITED_ENV = ["PATH", "LANG"];

/** How long commands still running at Ctrl-C or SIGTERM get to finish before they are stopped. */
const SHUTDOWN_TIMEOUT_MS = 2_000;

const USAGE = `Usage: tcp_exec_server.ts [options] [-- COMMAND [ARGS...]]

Runs COMMAND (default: ${
  DEFAULT_COMMAND.join(" ")
}) for every client, with its input and output
joined to the connection. Running another command needs --allow-run=COMMAND.

  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --max-connections N      commands run at once; the other clients wait
                           in the backlog (default ${DEFAULT_MAX_CONNECTIONS})
  --idle-timeout MS        stop a command whose client is silent this long
  --help                   show this help`;

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
    string: ["hostname", "port", "max-connections", "idle-timeout"],
    boolean: ["help"],
    default: { hostname: "127.0.0.1", port: String(DEFAULT_PORT) },
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
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = serveTcp({
      hostname: flags.hostname,
      port: flags.port,
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
