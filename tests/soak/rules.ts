/**
 * A scenario for the access rules under load: a flood of connections from a
 * denied client, mixed with requests from an allowed one. The two clients
 * differ by loopback address on one dual-stack listener: the allowed one
 * comes from 127.0.0.1 (seen as `::ffff:127.0.0.1`), the denied ones from
 * `::1`. The denied clients are Python's, in a process of their own.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { serve } from "../../server.ts";
import { waitFor, within } from "../_helpers.ts";
import type { Figures } from "./scenarios.ts";

/** The sizes of the rules scenario. */
export interface RulesSizes {
  /** Allowed requests, quiet and then during the flood; denied connections at least, and how many connect at once. */
  flood: { requests: number; denied: number; concurrency: number };
}

/** The sizes that `deno task test` runs. */
export const RULES_REDUCED: RulesSizes = {
  flood: { requests: 50, denied: 500, concurrency: 8 },
};

/** The sizes of `deno task soak`. */
export const RULES_FULL: RulesSizes = {
  flood: { requests: 500, denied: 20_000, concurrency: 32 },
};

/** Bound on the whole flood, and on each wait. */
const WAIT_MS = 60_000;

const encoder = new TextEncoder();

/** Connects from 127.0.0.1 and returns the ms until the whole "pong" is read. */
async function timedRequest(port: number): Promise<number> {
  const start = performance.now();
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reply = new Uint8Array(4);
  let filled = 0;
  while (filled < reply.length) {
    const n = await within(conn.read(reply.subarray(filled)), "a pong");
    if (n === null) throw new Error(`the reply ended after ${filled} bytes`);
    filled += n;
  }
  assertEquals(new TextDecoder().decode(reply), "pong");
  return performance.now() - start;
}

/**
 * The denied clients, in a process of their own so that they do not share
 * the server's event loop: `concurrency` threads connect from ::1 and read
 * until the server closes, until at least `denied` connections were made
 * and a line arrives on stdin. Prints "started" after the first, then, at
 * the end, the connections made and the bytes they received.
 */
const FLOOD_SCRIPT = `
import socket, sys, threading, time
port, denied, concurrency, seconds = (int(a) for a in sys.argv[1:5])
deadline = time.monotonic() + seconds
lock = threading.Lock()
stop = threading.Event()
first = threading.Event()
made = received = 0
def flood():
    global made, received
    while time.monotonic() < deadline:
        with lock:
            if stop.is_set() and made >= denied:
                return
        with socket.create_connection(("::1", port), timeout=10) as s:
            try:
                data = s.recv(1)
            except OSError:
                data = b""
        with lock:
            made += 1
            received += len(data)
        first.set()
threads = [threading.Thread(target=flood) for _ in range(concurrency)]
for t in threads:
    t.start()
first.wait(seconds)
print("started", flush=True)
sys.stdin.readline()
stop.set()
for t in threads:
    t.join()
print(made, received, flush=True)
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Allowed requests, quiet and then while `concurrency` loops connect from a
 * denied address until at least `denied` connections were made and every
 * allowed request is done. Asserted: every denied connection is closed
 * unread and counted in `refusedByRules`, no handler runs for any, every
 * allowed request is answered, and nothing is reported to onError.
 */
export async function rulesFlood(
  size: RulesSizes["flood"],
): Promise<Figures> {
  const errors: unknown[] = [];
  let handled = 0;
  const server = serve(
    Deno.listen({ hostname: "::", port: 0 }),
    async (conn) => {
      handled++;
      await conn.write(encoder.encode("pong"));
    },
    {
      allow: ["127.0.0.1"],
      deny: ["::1"],
      onError: (error) => errors.push(error),
    },
  );
  try {
    const { port } = server.addr as Deno.NetAddr;
    const quiet: number[] = [];
    for (let i = 0; i < size.requests; i++) {
      quiet.push(await timedRequest(port));
    }
    const flooder = new Deno.Command("python3", {
      args: [
        "-c",
        FLOOD_SCRIPT,
        String(port),
        String(size.denied),
        String(size.concurrency),
        String(WAIT_MS / 1000),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = flooder.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let output = "";
    const readLine = async (): Promise<string> => {
      while (!output.includes("\n")) {
        const { value, done } = await within(lines.read(), "the flooder");
        if (done) throw new Error(`the flooder ended: ${output}`);
        output += value;
      }
      const line = output.slice(0, output.indexOf("\n"));
      output = output.slice(line.length + 1);
      return line;
    };
    const start = performance.now();
    const flooded: number[] = [];
    let denied: number;
    let leaked: number;
    try {
      assertEquals(await readLine(), "started");
      for (let i = 0; i < size.requests; i++) {
        flooded.push(await timedRequest(port));
      }
      const writer = flooder.stdin.getWriter();
      await writer.write(encoder.encode("done\n"));
      await writer.close();
      [denied, leaked] = (await readLine()).split(" ").map(Number);
    } finally {
      try {
        flooder.kill("SIGKILL");
      } catch {
        // It has ended by itself.
      }
      await flooder.status;
      await lines.cancel().catch(() => {});
    }
    const floodTime = performance.now() - start;
    await waitFor(
      () => server.counters.refusedByRules === denied,
      "every denied connection to be counted",
    );
    const counters = server.counters;
    assertEquals(counters.refusedByRules, denied, "every denied one counted");
    assertEquals(leaked, 0, "bytes that denied clients received");
    assertEquals(counters.accepted, denied + 2 * size.requests);
    assertEquals(handled, 2 * size.requests, "no handler for a denied one");
    assertEquals(counters.handlerErrors, 0);
    assertEquals(errors, [], "nothing reported to onError");
    return {
      "allowed requests (quiet, then during the flood)":
        `${quiet.length}, ${flooded.length}`,
      "denied connections refused and counted (refusedByRules)":
        `${counters.refusedByRules} of ${denied}`,
      "handlers run for denied connections": 0,
      "denied connections per second": Math.round(denied / floodTime * 1000),
      "connect-to-reply median, quiet": `${median(quiet).toFixed(2)} ms`,
      "connect-to-reply median, during the flood": `${
        median(flooded).toFixed(2)
      } ms`,
      "errors reported": errors.length,
    };
  } finally {
    await server.shutdown();
  }
}
