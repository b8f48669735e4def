// deno run --unstable-net --allow-net=127.0.0.1 examples/udp_sendto_client.ts
/**
 * An unconnected UDP client, the `sendto()` / `recvfrom()` pair of the
 * classic tutorial: each line of standard input goes to the server as one
 * datagram, and each answer is printed with the address it came from. An
 * unconnected socket hears from anyone, which is why the sender is shown;
 * `examples/udp_connected_client.ts` keeps to one peer instead. A line
 * without an answer within `--timeout` is reported, and the exit status is
 * then 1.
 *
 * Try it against `examples/udp_echo_server.ts`:
 * `echo hello | deno run --unstable-net --allow-net=127.0.0.1 examples/udp_sendto_client.ts`
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { lines } from "@sockets/net/io";
import { formatAddress } from "@sockets/net/resolve";
import { listenUdp, type UdpDatagram } from "@sockets/net/udp";

/** The port of `udp_echo_server.ts`. */
const DEFAULT_PORT = 7007;

/** Datagrams can be lost: how long to wait for each answer by default. */
const DEFAULT_TIMEOUT_MS = 2_000;

const USAGE = `Usage: udp_sendto_client.ts [options]

Sends each line of standard input as one datagram, and prints each answer
with its sender's address.

  --hostname HOST          server address (default 127.0.0.1)
  --port PORT              port number or service name (default ${DEFAULT_PORT})
  --timeout MS             wait for each answer (default ${DEFAULT_TIMEOUT_MS})
  --help                   show this help`;

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "timeout"],
    boolean: ["help"],
    default: {
      hostname: "127.0.0.1",
      port: String(DEFAULT_PORT),
      timeout: String(DEFAULT_TIMEOUT_MS),
    },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const timeout = Number(flags.timeout);
  if (!(timeout > 0 && Number.isFinite(timeout))) {
    throw new RangeError(
      `--timeout must be a number of milliseconds above 0, got "${flags.timeout}"`,
    );
  }
  const server = { hostname: flags.hostname, port: flags.port };
  // Port 0 of the server's family: the kernel picks the client's port.
  await using socket = listenUdp({
    hostname: flags.hostname.includes(":") ? "::1" : "127.0.0.1",
    port: 0,
  });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  // One receive stays pending across lines: an answer that comes late is
  // still read, and shown with its sender like any other.
  let answer = socket.receive();
  answer.catch(() => {});
  let sent = 0;
  let unanswered = 0;
  for await (const line of lines(Deno.stdin)) {
    sent++;
    await socket.send(encoder.encode(line), server);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lost = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeout);
    });
    const datagram: UdpDatagram | undefined = await Promise.race([
      answer,
      lost,
    ]);
    clearTimeout(timer);
    if (datagram === undefined) {
      unanswered++;
      console.log(`(no answer within ${timeout} ms)`);
      continue;
    }
    console.log(
      `${formatAddress(datagram.from)}: ${decoder.decode(datagram.data)}`,
    );
    answer = socket.receive();
    answer.catch(() => {});
  }
  if (unanswered > 0) {
    throw new Deno.errors.TimedOut(
      `no answer to ${unanswered} of ${sent} datagrams within ${timeout} ms each; is the server running at ${flags.hostname} port ${flags.port}?`,
    );
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
