// deno run --unstable-net --allow-net=127.0.0.1 examples/udp_connected_client.ts
/**
 * A connected UDP client: each line of stdin goes to the server as one
 * datagram, and the server's answer is printed. The socket is pinned to the
 * server, as `connect()` pins a UDP socket: datagrams from anyone else are
 * dropped and counted. No retries: an answer that does not come within
 * `--timeout` is reported as lost, and the next line goes on; the exit
 * status is 1 if any answer was lost.
 *
 * Try it against `examples/udp_echo_server.ts`:
 * `echo hello | deno run --unstable-net --allow-net=127.0.0.1 examples/udp_connected_client.ts`
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { connectUdp } from "@sockets/net/udp";

/** The port of `udp_echo_server.ts`. */
const DEFAULT_PORT = 7007;

/** How long to wait for each answer by default: about a second, as RFC 8085 advises without an RTT estimate. */
const DEFAULT_TIMEOUT_MS = 1_000;

const USAGE = `Usage: udp_connected_client.ts [options] < lines

Sends each line of stdin as one datagram and prints each answer.

  --hostname HOST          server address or name (default 127.0.0.1)
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
  await using client = await connectUdp({
    hostname: flags.hostname,
    port: flags.port,
  });
  // One receive stays pending across lines, so an answer that comes late is
  // still read (and taken for the next line's: UDP has no request ids).
  let answer = client.receive();
  answer.catch(() => {});
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  let sent = 0;
  let unanswered = 0;
  const send = async (line: string) => {
    sent++;
    await client.send(new TextEncoder().encode(line));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lost = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeout);
    });
    const data = await Promise.race([answer, lost]);
    clearTimeout(timer);
    if (data === undefined) {
      unanswered++;
      console.log(`(no answer within ${timeout} ms)`);
      return;
    }
    console.log(new TextDecoder().decode(data));
    answer = client.receive();
    answer.catch(() => {});
  };
  for await (const chunk of lines) {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) !== -1) {
      await send(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered !== "") await send(buffered);
  if (client.dropped > 0) {
    console.error(`dropped ${client.dropped} datagrams from other addresses`);
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
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
