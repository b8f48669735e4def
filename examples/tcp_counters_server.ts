// deno run --allow-net=127.0.0.1 examples/tcp_counters_server.ts
/**
 * An echo server that shows its counters when asked, as `dd` shows its
 * progress: `kill -USR1 PID` prints them as one line, and they are printed
 * once more as it exits. `--rules FILE` serves only the clients that a rules
 * file in the spirit of tcpserver's allows (`10.0.0.0/8:allow`, `:deny`);
 * reading it needs `--allow-read=FILE` as well.
 *
 * Try it with `nc 127.0.0.1 7007`, then `kill -USR1 PID` from another terminal.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { copy } from "@sockets/net/io";
import { readAccessRules, type ServerCounters } from "@sockets/net/server";
import { serveTcp } from "@sockets/net/tcp";

/** The echo service is port 7, which needs root: this one listens above 1024. */
const DEFAULT_PORT = 7007;

const USAGE = `Usage: tcp_counters_server.ts [options]

Sends every byte back to the client that sent it, and prints the server's
counters as one line on SIGUSR1 (kill -USR1 PID) and when it exits.

  --hostname HOST          address to listen on (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --rules FILE             serve only the clients this rules file allows
                           (lines such as 10.0.0.0/8:allow, 10.0.0.66:deny,
                           :deny); needs --allow-read=FILE
  --help                   show this help`;

/** The counters as one line of name=value pairs, easy to read and to grep. */
function counterLine(counters: ServerCounters): string {
  return `counters ${
    Object.entries(counters).map(([name, value]) => `${name}=${value}`).join(
      " ",
    )
  }`;
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "rules"],
    boolean: ["help"],
    default: { hostname: "127.0.0.1", port: String(DEFAULT_PORT) },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const rules = flags.rules === undefined
    ? {}
    : await readAccessRules(flags.rules);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let print = () => {};
  const onUsr1 = () => print();
  Deno.addSignalListener("SIGUSR1", onUsr1);
  try {
    const server = serveTcp({
      hostname: flags.hostname,
      port: flags.port,
      ...rules,
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, (conn) => copy(conn, conn));
    print = () => console.log(counterLine(server.counters));
    console.log(`listening on ${formatAddress(server.addr)}`);
    await server.finished;
    print();
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGUSR1", onUsr1);
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
