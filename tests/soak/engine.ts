/**
 * Scenarios for the stream engine against hostile and unlucky clients:
 * clients that reset before they are accepted, replies after input the
 * handler never read, and clients that trickle a byte at a time. The
 * servers run in this process; the resetting clients are Python's, since
 * Deno cannot set SO_LINGER.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { serve } from "../../server.ts";
import { LARGE_REPLY_BYTES, UNREAD_BYTES } from "../_lingering.ts";
import type { Figures } from "./scenarios.ts";

/** The sizes of the engine scenarios. */
export interface EngineSizes {
  /** Requests timed quiet and under attack, resetting clients per second, and the attack's length in ms. */
  resets: { requests: number; resetsPerSecond: number; attack: number };
  /** Tries of a 4 MiB reply after 64 KiB of unread input. */
  linger: { tries: number };
  /** Trickling clients against maxConnections, and the deadlines. */
  tricklers: {
    tricklers: number;
    maxConnections: number;
    byteInterval: number;
    idleTimeout: number;
    connectionTimeout: number;
  };
}

/** The sizes that `deno task test` runs. */
export const ENGINE_REDUCED: EngineSizes = {
  resets: { requests: 20, resetsPerSecond: 100, attack: 1_000 },
  linger: { tries: 5 },
  tricklers: {
    tricklers: 30,
    maxConnections: 20,
    byteInterval: 100,
    idleTimeout: 250,
    connectionTimeout: 500,
  },
};

/** The sizes of `deno task soak`, as issue 13's proof asks. */
export const ENGINE_FULL: EngineSizes = {
  resets: { requests: 200, resetsPerSecond: 100, attack: 10_000 },
  linger: { tries: 100 },
  tricklers: {
    tricklers: 300,
    maxConnections: 200,
    byteInterval: 400,
    idleTimeout: 1_000,
    connectionTimeout: 2_000,
  },
};

/** Bound on any one wait of these scenarios. */
const WAIT_MS = 30_000;

/** Slack allowed on a well-behaved client's median time under attack, for scheduling noise on a loaded machine. */
const LATENCY_SLACK_MS = 5;

const encoder = new TextEncoder();

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${WAIT_MS} ms: ${what}`)),
      WAIT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    offset += await conn.write(data.subarray(offset));
  }
}

/** Connects, sends "ping", and returns the ms until the whole "pong" is read. */
async function timedRequest(port: number): Promise<number> {
  const start = performance.now();
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, encoder.encode("ping"));
  const reply = new Uint8Array(4);
  let filled = 0;
  while (filled < 4) {
    const n = await within(conn.read(reply.subarray(filled)), "a pong");
    if (n === null) throw new Error(`the reply ended after ${filled} bytes`);
    filled += n;
  }
  return performance.now() - start;
}

/**
 * A well-behaved client's connect-to-reply time, quiet and while Python
 * clients connect and reset (SO_LINGER {1, 0}) at `resetsPerSecond`.
 * Asserted: every request is answered, nothing is reported to onError, and
 * the median under attack is within 2× the quiet median (plus a few ms of
 * scheduling slack).
 */
export async function resetFlood(
  size: EngineSizes["resets"],
): Promise<Figures> {
  const errors: unknown[] = [];
  await using server = serve(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    async (conn) => {
      try {
        const buffer = new Uint8Array(4);
        if ((await conn.read(buffer)) !== null) {
          await writeAll(conn, encoder.encode("pong"));
        }
      } catch {
        // A resetting client: nothing to answer.
      }
    },
    { onError: (error) => errors.push(error) },
  );
  const { port } = server.addr as Deno.NetAddr;
  const quiet: number[] = [];
  for (let i = 0; i < size.requests; i++) quiet.push(await timedRequest(port));

  const script = `
import socket, struct, sys, time
interval = 1 / ${size.resetsPerSecond}
sent = 0
while True:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        s.connect(("127.0.0.1", ${port}))
    except OSError:
        pass
    s.close()
    sent += 1
    print(sent, flush=True)
    time.sleep(interval)
`;
  const attacker = new Deno.Command("python3", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let resets = 0;
  const attacking = Promise.withResolvers<void>();
  const counting = (async () => {
    for await (const chunk of attacker.stdout) {
      const lines = new TextDecoder().decode(chunk).trim().split("\n");
      resets = Number(lines.at(-1)) || resets;
      attacking.resolve();
    }
  })();
  const attacked: number[] = [];
  try {
    await within(attacking.promise, "the resetting clients to start");
    for (let i = 0; i < size.requests; i++) {
      attacked.push(await timedRequest(port));
      // Spread over the attack, as a real client's requests would be.
      await delay(size.attack / size.requests);
    }
  } finally {
    attacker.kill("SIGKILL");
    await attacker.status;
    await counting;
  }
  const quietMedian = percentile(quiet, 0.5);
  const attackedMedian = percentile(attacked, 0.5);
  assertEquals(errors, [], "nothing reported to onError");
  assert(
    attackedMedian <= 2 * quietMedian + LATENCY_SLACK_MS,
    `median ${attackedMedian.toFixed(2)} ms under attack against ${
      quietMedian.toFixed(2)
    } ms quiet`,
  );
  return {
    "requests (quiet, then under attack)":
      `${quiet.length}, ${attacked.length}`,
    "resetting clients during the attack": resets,
    "connect-to-reply median, quiet": `${quietMedian.toFixed(2)} ms`,
    "connect-to-reply median, under attack": `${attackedMedian.toFixed(2)} ms`,
    "connect-to-reply p99, quiet": `${percentile(quiet, 0.99).toFixed(2)} ms`,
    "connect-to-reply p99, under attack": `${
      percentile(attacked, 0.99).toFixed(2)
    } ms`,
    "errors reported": errors.length,
  };
}

/**
 * `tries` clients each send 64 KiB that the handler never reads, then read
 * a 4 MiB reply slowly (a 1 ms pause per 64 KiB read). Asserted: every
 * reply arrives whole, with a clean end of stream.
 */
export async function lingerReplies(
  size: EngineSizes["linger"],
): Promise<Figures> {
  const reply = new Uint8Array(LARGE_REPLY_BYTES).fill(42);
  const unread = new Uint8Array(UNREAD_BYTES).fill(7);
  let sent = Promise.withResolvers<void>();
  await using server = serve(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    async (conn) => {
      await sent.promise;
      await writeAll(conn, reply);
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  let whole = 0;
  const short: number[] = [];
  const start = performance.now();
  for (let i = 0; i < size.tries; i++) {
    sent = Promise.withResolvers<void>();
    using client = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(client, unread);
    sent.resolve();
    const buffer = new Uint8Array(64 * 1024);
    let received = 0;
    try {
      for (let n = 0; n <= LARGE_REPLY_BYTES; n++) {
        const read = await within(client.read(buffer), "the reply");
        if (read === null) break;
        received += read;
        await delay(1);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
    }
    if (received === LARGE_REPLY_BYTES) whole++;
    else short.push(received);
  }
  const seconds = (performance.now() - start) / 1000;
  assertEquals(short, [], "bytes received by clients whose reply was cut");
  return {
    "replies whole": `${whole} of ${size.tries}`,
    "reply size": "4 MiB after 64 KiB of unread input",
    "time per try": `${(seconds * 1000 / size.tries).toFixed(0)} ms`,
  };
}

/**
 * `tricklers` clients each send one byte every `byteInterval` ms (never
 * idle for `idleTimeout`) against `maxConnections`, with
 * `connectionTimeout`; once they are all connecting, a real client asks for
 * a reply. Asserted: every trickler is closed by the server, the real
 * client is served, and nothing is reported to onError.
 */
export async function tricklers(
  size: EngineSizes["tricklers"],
): Promise<Figures> {
  const errors: unknown[] = [];
  await using server = serve(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    async (conn) => {
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      if (n !== null && buffer[0] === 112 /* "p" */) {
        await writeAll(conn, encoder.encode("pong"));
        return;
      }
      while ((await conn.read(buffer)) !== null) {
        // A trickler never finishes its request.
      }
    },
    {
      maxConnections: size.maxConnections,
      idleTimeout: size.idleTimeout,
      connectionTimeout: size.connectionTimeout,
      onError: (error) => errors.push(error),
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  const byte = new Uint8Array([120]);
  const start = performance.now();
  /** Resolves with the ms the trickler was connected when the server ended it. */
  const trickle = async (): Promise<number> => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const connected = performance.now();
    const limit = WAIT_MS / size.byteInterval;
    for (let i = 0; i < limit; i++) {
      try {
        await conn.write(byte);
      } catch {
        return performance.now() - connected;
      }
      await delay(size.byteInterval);
    }
    throw new Error(`a trickler stayed connected for ${WAIT_MS} ms`);
  };
  const running = Array.from({ length: size.tricklers }, trickle);
  await delay(size.byteInterval);
  const served = await within(timedRequest(port), "the real client");
  const lifetimes = await within(Promise.all(running), "every trickler");
  const total = performance.now() - start;
  assertEquals(errors, [], "nothing reported to onError");
  return {
    "tricklers":
      `${size.tricklers} against maxConnections ${size.maxConnections}`,
    "byte interval, idleTimeout, connectionTimeout":
      `${size.byteInterval} ms, ${size.idleTimeout} ms, ${size.connectionTimeout} ms`,
    "tricklers closed by the server":
      `${lifetimes.length} of ${size.tricklers}`,
    "real client's connect-to-reply time": `${served.toFixed(0)} ms`,
    "longest trickler connection (from its connect)": `${
      Math.max(...lifetimes).toFixed(0)
    } ms`,
    "all tricklers gone after": `${total.toFixed(0)} ms`,
    "errors reported": errors.length,
  };
}
