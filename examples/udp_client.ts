// deno run --unstable-net --allow-net=127.0.0.1 examples/udp_client.ts
/**
 * A UDP request client: sends the message as one datagram and prints the
 * answer, retrying with exponential backoff when none comes, since UDP may
 * lose either the request or the answer. Gives up after the last attempt,
 * or at `--deadline`, and says which attempts failed.
 *
 * Try it against `examples/udp_echo_server.ts`:
 * `deno run --unstable-net --allow-net=127.0.0.1 examples/udp_client.ts hello`
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { requestUdp } from "@sockets/net/udp";

/** The port of `udp_echo_server.ts`. */
const DEFAULT_PORT = 7007;

const USAGE = `Usage: udp_client.ts [options] MESSAGE...

Sends MESSAGE as one datagram and prints the answer.

  --hostname HOST          server address or name (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --attempt-timeout MS     wait for the first answer (default 1000)
  --retries N              sends after the first one (default 3)
  --backoff FACTOR         each wait is this many times longer (default 2)
  --timeout MS             give up after this long, whatever attempts remain
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
    string: [
      "hostname",
      "port",
      "attempt-timeout",
      "retries",
      "backoff",
      "timeout",
    ],
    boolean: ["help"],
    default: { hostname: "127.0.0.1", port: String(DEFAULT_PORT) },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const message = flags._.join(" ");
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const answer = await requestUdp(
      new TextEncoder().encode(message),
      { hostname: flags.hostname, port: flags.port },
      {
        attemptTimeout: optionalNumber(
          flags["attempt-timeout"],
          "attempt-timeout",
        ),
        retries: optionalNumber(flags.retries, "retries"),
        backoff: optionalNumber(flags.backoff, "backoff"),
        timeout: optionalNumber(flags.timeout, "timeout"),
        signal: controller.signal,
      },
    );
    console.log(new TextDecoder().decode(answer));
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
