/**
 * Datagram scenarios: a connected UDP socket under a flood from other
 * senders, counted against a socket that Python connects in the kernel in
 * the same run; and a UDP server whose handlers get stuck while it keeps
 * answering.
 *
 * @module
 */

import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import { connectUdp, requestUdp, serveUdp } from "../../udp.ts";
import type { Figures } from "./scenarios.ts";

/** The size of each datagram scenario. */
export interface DatagramSizes {
  /** Datagrams the peer sends to each receiver while the flood runs, and the flood's length in ms. */
  flood: { datagrams: number; floodMs: number };
  /** Stuck handlers per burst, bursts, the handler timeout, and well-behaved requests. */
  stuck: {
    stuck: number;
    bursts: number;
    handlerTimeout: number;
    requests: number;
  };
}

/** The sizes `tests/reliability_test.ts` runs on every `deno task test`. */
export const DATAGRAMS_REDUCED: DatagramSizes = {
  flood: { datagrams: 200, floodMs: 1_500 },
  stuck: { stuck: 16, bursts: 2, handlerTimeout: 100, requests: 20 },
};

/** The sizes `deno task soak` runs. */
export const DATAGRAMS_FULL: DatagramSizes = {
  flood: { datagrams: 1_000, floodMs: 4_000 },
  stuck: { stuck: 16, bursts: 10, handlerTimeout: 500, requests: 500 },
};

/** Silence after which a receiver stops counting: the peer has long finished. */
const QUIET_MS = 1_000;

/** A bound on every wait for a child process. */
const CHILD_TIMEOUT_MS = 30_000;

const decoder = new TextDecoder();

/** Python: a UDP socket connected in the kernel to the peer; prints its port, then how many datagrams it got. */
const KERNEL_CONNECTED_RECEIVER = `
import socket, sys
peer_port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.connect(("127.0.0.1", peer_port))
print(s.getsockname()[1], flush=True)
s.recv(65536)
got = 1
s.settimeout(${QUIET_MS / 1000})
try:
    while got < count:
        s.recv(65536)
        got += 1
except socket.timeout:
    pass
print(got, flush=True)
`;

/** Python: floods the given ports with 512-byte datagrams for a time; prints 0 as it starts, and how many it sent at the end. */
const FLOODER = `
import socket, sys, time
seconds, ports = float(sys.argv[1]) / 1000, [int(p) for p in sys.argv[2:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"F" * 512
sent = 0
print(sent, flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for port in ports:
        try:
            s.sendto(payload, ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass
print(sent, flush=True)
`;

/** Python: the peer; sends the given number of datagrams to each port, paced, then exits. */
const PEER = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
line = sys.stdin.readline().split()
count, ports = int(line[0]), [int(p) for p in line[1:]]
for i in range(count):
    for port in ports:
        s.sendto(b"P%d" % i, ("127.0.0.1", port))
    time.sleep(0.0002)
`;

function python(
  script: string,
  args: string[],
  stdin: "piped" | "null" = "null",
): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: ["-c", script, ...args],
    stdin,
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(CHILD_TIMEOUT_MS),
  }).spawn();
}

/** Reads the child's stdout line by line. */
async function* outputLines(child: Deno.ChildProcess): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of child.stdout) {
    pending += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
  if (pending !== "") yield pending;
}

async function nextLine(lines: AsyncGenerator<string>): Promise<number> {
  const { value, done } = await lines.next();
  assert(!done, "a child process ended without its line");
  return Number(value);
}

/**
 * Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:`port`
 * because its receive buffer was full: the `drops` column of /proc/net/udp.
 */
export async function kernelDrops(port: number): Promise<number> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const table = await Deno.readTextFile("/proc/net/udp");
  for (const row of table.split("\n").slice(1)) {
    const fields = row.trim().split(/\s+/);
    if (fields[1] === local) return Number(fields.at(-1));
  }
  return 0;
}

/**
 * A UDP flood: a Python process floods two receivers from another address
 * while a Python peer sends each of them the same numbered datagrams, paced.
 * One receiver is `connectUdp()`, which filters in the program; the other is
 * a Python socket connected in the kernel, which never sees the flood. Each
 * counts the peer's datagrams it got.
 */
export async function udpFlood(size: DatagramSizes["flood"]): Promise<Figures> {
  const { datagrams, floodMs } = size;
  const peer = python(PEER, [], "piped");
  const peerLines = outputLines(peer);
  const peerPort = await nextLine(peerLines);
  const kernel = python(KERNEL_CONNECTED_RECEIVER, [
    String(peerPort),
    String(datagrams),
  ]);
  const kernelLines = outputLines(kernel);
  const kernelPort = await nextLine(kernelLines);
  await using client = await connectUdp({
    hostname: "127.0.0.1",
    port: peerPort,
  });

  const flooder = python(FLOODER, [
    String(floodMs),
    String(client.addr.port),
    String(kernelPort),
  ]);
  const floodLines = outputLines(flooder);
  await nextLine(floodLines);
  let got = 0;
  const counting = (async () => {
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const rest = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => client.close(), floodMs + QUIET_MS);
    };
    rest();
    try {
      while (got < datagrams) {
        const data = await client.receive();
        assertEquals(data[0], "P".charCodeAt(0), "only the peer's datagrams");
        got++;
      }
    } catch (error) {
      assertInstanceOf(error, Deno.errors.BadResource);
    } finally {
      clearTimeout(quiet);
    }
  })();
  // The flood fills both receive buffers before the peer starts.
  const floodDeadline = performance.now() + CHILD_TIMEOUT_MS;
  while (client.dropped === 0 && performance.now() < floodDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  const writer = peer.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      `${datagrams} ${client.addr.port} ${kernelPort}\n`,
    ),
  );
  await writer.close();
  await peer.status;
  const kernelGot = await nextLine(kernelLines);
  const flooded = await nextLine(floodLines);
  const drops = client.closed ? undefined : await kernelDrops(client.addr.port);
  await counting;
  for await (const _ of peerLines);
  for await (const _ of kernelLines);
  for await (const _ of floodLines);
  assertEquals((await kernel.status).code, 0);
  assertEquals((await flooder.status).code, 0);
  assertEquals(kernelGot, datagrams, "the kernel-connected socket got all");
  return {
    "peer's datagrams, to each receiver": datagrams,
    "flood datagrams sent (both receivers)": flooded,
    "flood duration": `${floodMs} ms`,
    "kernel-connected Python socket: peer's datagrams received":
      `${kernelGot} of ${datagrams}`,
    "connectUdp(): peer's datagrams received": `${got} of ${datagrams} (${
      (got / datagrams * 100).toFixed(1)
    }%)`,
    "connectUdp(): flood datagrams read and dropped in the program":
      client.dropped,
    "connectUdp(): datagrams dropped by the kernel (buffer full)": drops ??
      "n/a",
  };
}

/**
 * Stuck handlers: bursts of datagrams whose handler never settles take
 * every worker of a UDP server (maxConcurrency 16), while a client keeps
 * asking with `requestUdp()`. Every stuck handler is given up at
 * `handlerTimeout` and every request is answered.
 */
export async function stuckHandlers(
  size: DatagramSizes["stuck"],
): Promise<Figures> {
  const { stuck, bursts, handlerTimeout, requests } = size;
  const errors: unknown[] = [];
  await using server = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    maxConcurrency: 16,
    handlerTimeout,
    shutdownTimeout: 0,
    onError: (error) => errors.push(error),
  }, (data) => data[0] === 83 ? new Promise<never>(() => {}) : data);
  await using attacker = await connectUdp(server.addr);
  const started = performance.now();
  const attack = (async () => {
    for (let burst = 0; burst < bursts; burst++) {
      for (let i = 0; i < stuck; i++) await attacker.send(new Uint8Array([83]));
      await new Promise((resolve) => setTimeout(resolve, handlerTimeout));
    }
  })();
  let answered = 0;
  let slowest = 0;
  const pace = (bursts * handlerTimeout) / requests;
  for (let i = 0; i < requests; i++) {
    const sent = performance.now();
    const answer = await requestUdp(
      new Uint8Array([65, i & 0xff]),
      server.addr,
      {
        attemptTimeout: handlerTimeout * 4,
        retries: 2,
      },
    );
    assertEquals(answer[1], i & 0xff);
    answered++;
    slowest = Math.max(slowest, performance.now() - sent);
    await new Promise((resolve) => setTimeout(resolve, pace));
  }
  await attack;
  const duration = performance.now() - started;
  const deadline = performance.now() + handlerTimeout * 3;
  while (server.timedOut < stuck * bursts && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const drops = await kernelDrops(server.addr.port);
  assertEquals(server.timedOut, stuck * bursts);
  assertEquals(errors.length, stuck * bursts);
  for (const error of errors) assertInstanceOf(error, Deno.errors.TimedOut);
  return {
    "stuck handlers (never settle)": `${
      stuck * bursts
    } in ${bursts} bursts of ${stuck}`,
    "maxConcurrency / handlerTimeout": `16 / ${handlerTimeout} ms`,
    "well-behaved requests answered": `${answered} of ${requests}`,
    "slowest answer": `${slowest.toFixed(0)} ms`,
    "stuck handlers given up and reported (TimedOut)": server.timedOut,
    "datagrams dropped by the kernel (buffer full)": drops,
    duration: `${duration.toFixed(0)} ms`,
  };
}
