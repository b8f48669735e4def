/**
 * The reliability scenarios: what a server built with this module meets in
 * production (connection churn, slowloris, descriptor exhaustion, shutdown
 * under load, bad input, hostile framing, socket files, missing permissions,
 * packet loss). Each takes a size, so that `tests/reliability_test.ts` runs a
 * small version on every `deno task test` and `tests/soak/run.ts` the full
 * one, and returns the figures it measured for `tests/RELIABILITY.md`.
 *
 * Servers run as child processes (`echo_server.ts`), so that their open
 * descriptors can be counted from outside, before and after. Random choices
 * come from a seed that every scenario reports; set `SOAK_SEED` to replay a
 * run.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertFalse,
  assertGreater,
  assertInstanceOf,
  assertLessOrEqual,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { copy, frames, lines, readExactly, writeAll } from "../../io.ts";
import { assertFlagsNeeded, headerFlags, runExample } from "../_examples.ts";
import { makeCertificates } from "../_helpers.ts";
import { newSeed, type Random, seededRandom } from "./random.ts";
import {
  type ServerProcess,
  ServerStartError,
  startServer,
} from "./server_process.ts";
import * as io from "../../io.ts";
import { lookupHost } from "../../resolve.ts";
import { serve } from "../../server.ts";
import { lookupPort, resolvePort } from "../../services.ts";
import * as tcp from "../../tcp.ts";
import * as tls from "../../tls.ts";
import * as udp from "../../udp.ts";
import { requestUdp } from "../../udp.ts";
import * as unix from "../../unix.ts";

/** What a scenario measured: a label and a value, in the order reported. */
export type Figures = Record<string, string | number>;

/** The size of every scenario. */
export interface Sizes {
  /** Connections made, and how many at once. */
  churn: { connections: number; concurrency: number };
  /** Silent connections, and the server's idle timeout in ms. */
  slowloris: { attackers: number; idleTimeout: number };
  /** Burst connections against a server limited to `maxFiles` descriptors. */
  exhaustion: {
    burst: number;
    maxFiles: number;
    connectTimeout: number;
    cpuWindow: number;
  };
  /** Exchanges in flight at shutdown, and stuck ones past the deadline. */
  shutdown: {
    inFlight: number;
    stuck: number;
    work: number;
    shutdownTimeout: number;
  };
  /** Random inputs fed to each of `lines` and `frames`. */
  fuzz: { inputs: number };
  /** Server starts watched for the socket file's mode. */
  unixFiles: { modeStarts: number };
  /** Whether every header flag of every example is left out in turn, or one random flag per example. */
  permissions: { everyFlag: boolean };
  /** UDP requests against a server that drops 30% of datagrams. */
  udpLoss: {
    requests: number;
    concurrency: number;
    timeout: number;
    retries: number;
  };
}

/** The sizes of `deno task test`: the whole file runs in well under a minute on two cores. */
export const REDUCED: Sizes = {
  churn: { connections: 300, concurrency: 32 },
  slowloris: { attackers: 100, idleTimeout: 500 },
  exhaustion: {
    burst: 600,
    maxFiles: 256,
    connectTimeout: 2_000,
    cpuWindow: 1_000,
  },
  shutdown: { inFlight: 40, stuck: 5, work: 500, shutdownTimeout: 1_000 },
  fuzz: { inputs: 2_000 },
  unixFiles: { modeStarts: 2 },
  permissions: { everyFlag: false },
  udpLoss: { requests: 100, concurrency: 20, timeout: 20, retries: 6 },
};

/** The sizes of `deno task soak`: a few minutes. */
export const FULL: Sizes = {
  churn: { connections: 10_000, concurrency: 64 },
  slowloris: { attackers: 1_000, idleTimeout: 2_000 },
  exhaustion: {
    burst: 2_000,
    maxFiles: 256,
    connectTimeout: 3_000,
    cpuWindow: 3_000,
  },
  shutdown: { inFlight: 400, stuck: 40, work: 1_000, shutdownTimeout: 2_000 },
  fuzz: { inputs: 100_000 },
  unixFiles: { modeStarts: 20 },
  permissions: { everyFlag: true },
  udpLoss: { requests: 2_000, concurrency: 50, timeout: 50, retries: 6 },
};

/**
 * CPU time over wall time above which a server waiting out EMFILE counts as
 * spinning: a busy accept loop keeps one core at about 100%, a backing-off
 * one stays near 0%, so half a core separates them with a wide margin on
 * any machine, however loaded.
 */
export const BUSY_LOOP_CPU_SHARE = 0.5;

/** The work of a stuck exchange: far past any shutdownTimeout of the scenarios. */
const STUCK_MS = 600_000;

/** How long the scenarios wait for the server to release its descriptors. */
const SETTLE_TIMEOUT_MS = 10_000;

/** A bound on every wait of a client, so that a hung scenario fails instead. */
const CLIENT_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ECHO = "E".charCodeAt(0);
const THROW = "T".charCodeAt(0);
const WAIT = "W".charCodeAt(0);

/** The seed of a run: `SOAK_SEED` when set, to replay one, otherwise a new one. */
export function runSeed(): number {
  const fromEnv = Deno.env.get("SOAK_SEED");
  return fromEnv === undefined ? newSeed() : Number(fromEnv);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `task(i)` for i from 0 to count - 1, at most `concurrency` at once. */
async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, worker),
  );
}

/** Polls `check` every 20 ms until it returns true; throws after `ms`. */
async function waitFor(
  what: string,
  ms: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) {
      throw new Error(`${what}: not within ${ms} ms`);
    }
    await delay(20);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A `W` request: wait `ms`, then echo. */
function waitHeader(ms: number): Uint8Array<ArrayBuffer> {
  const header = new Uint8Array(5);
  header[0] = WAIT;
  new DataView(header.buffer).setUint32(1, ms);
  return header;
}

/** Everything the peer sends until it closes. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array<ArrayBuffer>> {
  const sink = { chunks: [] as Uint8Array[] };
  await copy(conn, {
    write(p) {
      sink.chunks.push(p.slice());
      return Promise.resolve(p.length);
    },
  });
  return concat(...sink.chunks);
}

function connectTo(
  server: ServerProcess,
  signal?: AbortSignal,
): Promise<Deno.Conn> {
  return Number.isNaN(server.port)
    ? Deno.connect({ transport: "unix", path: server.address })
    : Deno.connect({ hostname: "127.0.0.1", port: server.port, signal });
}

/**
 * Sends `request`, half-closes, and returns all the server sent back,
 * writing and reading at once so that a large echo cannot deadlock.
 */
async function exchange(
  server: ServerProcess,
  request: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  using conn = await connectTo(server);
  const [reply] = await Promise.all([
    readAll(conn),
    writeAll(conn, request).then(() => conn.closeWrite()),
  ]);
  return reply;
}

/** Asserts that the server echoes a message, and returns nothing. */
async function assertEchoes(server: ServerProcess, text: string) {
  const payload = encoder.encode(text);
  const reply = await exchange(server, concat(Uint8Array.of(ECHO), payload));
  assertEquals(decoder.decode(reply), text, "a well-behaved client's echo");
}

/**
 * Echoes once (so that whatever the runtime opens lazily is open), waits
 * for the connection to end, and returns the server's socket descriptor
 * count: the baseline the scenario must come back to.
 */
async function baseline(server: ServerProcess): Promise<number> {
  await assertEchoes(server, "warm-up");
  await waitFor(
    "the warm-up connection to end",
    SETTLE_TIMEOUT_MS,
    async () => (await server.stats()).open === 0,
  );
  return await server.sockets();
}

/**
 * Waits until the server has no connection open and its socket descriptor
 * count is back to `expected`, and returns the count (the last one seen,
 * if it never got there).
 */
async function settle(
  server: ServerProcess,
  expected: number,
): Promise<number> {
  let count = -1;
  await waitFor("the descriptors to settle", SETTLE_TIMEOUT_MS, async () => {
    if ((await server.stats()).open !== 0) return false;
    count = await server.sockets();
    return count === expected;
  }).catch(() => {});
  return count;
}

/** Asserts a clean exit with its final stats, and returns them. */
async function stopCleanly(server: ServerProcess) {
  const exit = await server.stop();
  assertEquals(exit.code, 0, `the server's exit; stderr:\n${exit.stderr}`);
  assertEquals(exit.signal, null);
  assert(exit.final !== undefined, "the server printed its final stats");
  return exit.final;
}

function sum(table: Record<string, number>): number {
  return Object.values(table).reduce((total, n) => total + n, 0);
}

function describe(table: Record<string, number>): string {
  const entries = Object.entries(table);
  return entries.length === 0
    ? "none"
    : entries.map(([name, n]) => `${n} ${name}`).join(", ");
}

function ms(value: number): string {
  return `${Math.round(value)} ms`;
}

// ---------------------------------------------------------------------------

/**
 * Churn: many short connections; a random 20% reset mid-exchange (closed
 * with unread data, which sends an RST), 10% ask the handler to throw. The
 * server must not crash, every well-behaved client must get its exact
 * bytes, and the descriptors must come back to the baseline.
 */
export async function churn(
  size: Sizes["churn"],
  seed: number = runSeed(),
): Promise<Figures> {
  const random = seededRandom(seed);
  /** Payloads are views of this block, at random offsets and lengths. */
  const block = random.bytes(512 * 1024);
  await using server = await startServer({ transport: "tcp" });
  const before = await baseline(server);

  const roles = Array.from({ length: size.connections }, () => {
    const r = random.next();
    return r < 0.1 ? "throw" : r < 0.3 ? "reset" : "echo";
  });
  const lengths = roles.map(() => random.int(1, 16 * 1024));
  const offsets = roles.map(() => random.int(0, 256 * 1024));
  let mismatches = 0;
  let echoedBytes = 0;
  const started = performance.now();
  await pool(size.connections, size.concurrency, async (i) => {
    using conn = await connectTo(server);
    if (roles[i] === "throw") {
      await writeAll(conn, Uint8Array.of(THROW));
      const reply = await readAll(conn);
      if (reply.length !== 0) mismatches++;
    } else if (roles[i] === "echo") {
      const payload = block.subarray(offsets[i], offsets[i] + lengths[i]);
      const [reply] = await Promise.all([
        readAll(conn),
        writeAll(conn, concat(Uint8Array.of(ECHO), payload)).then(() =>
          conn.closeWrite()
        ),
      ]);
      if (equalBytes(reply, payload)) echoedBytes += reply.length;
      else mismatches++;
    } else {
      // Far more than one echo chunk: the server is still sending when the
      // client closes with the rest unread.
      const writing = writeAll(
        conn,
        concat(Uint8Array.of(ECHO), block.subarray(offsets[i])),
      ).catch(() => {});
      await conn.read(new Uint8Array(1)).catch(() => null);
      conn.close();
      await writing;
    }
  }).catch((error) => {
    throw new Error(`churn client failed (seed ${seed})`, { cause: error });
  });
  const duration = performance.now() - started;

  await assertEchoes(server, "still serving after the churn");
  const after = await settle(server, before);
  const stats = await server.stats();
  const final = await stopCleanly(server);
  const count = (role: string) => roles.filter((r) => r === role).length;
  const [echoes, resets, throws] = [
    count("echo"),
    count("reset"),
    count("throw"),
  ];
  assertEquals(mismatches, 0, `clients that got wrong bytes (seed ${seed})`);
  // The warm-up, the churn and the final check.
  assertEquals(stats.accepted, size.connections + 2);
  assertEquals(stats.requestedFailures, throws);
  assertEquals(stats.acceptErrors, {});
  for (const name of Object.keys(stats.handlerErrors)) {
    assert(
      name === "ConnectionReset" || name === "BrokenPipe",
      `handler error ${name}: only resets were expected (seed ${seed})`,
    );
  }
  // A reset either broke its exchange or came after the echo was sent.
  assertEquals(
    stats.echoed + sum(stats.handlerErrors),
    echoes + resets + 2,
    "every exchange either completed or failed with a reset",
  );
  assertEquals(after, before, "descriptors after the churn");
  assertEquals(final.echoed, stats.echoed);
  return {
    seed,
    connections: size.connections,
    "at once": size.concurrency,
    "well-behaved (echo)": echoes,
    "reset mid-exchange": resets,
    "handler throws": throws,
    "exact echoes": `${echoes} of ${echoes} (${echoedBytes} bytes)`,
    "server: accepted": stats.accepted,
    "server: requested failures reported": stats.requestedFailures,
    "server: resets seen by handlers": describe(stats.handlerErrors),
    "socket descriptors before / after": `${before} / ${after}`,
    duration: ms(duration),
    "connections per second": Math.round(size.connections / duration * 1000),
  };
}

/**
 * Slowloris: connections that never send a byte must all be closed by
 * `idleTimeout`, while a client that keeps talking is served throughout and
 * a new client is served during the attack.
 */
export async function slowloris(
  size: Sizes["slowloris"],
  seed: number = runSeed(),
): Promise<Figures> {
  const random = seededRandom(seed);
  const { attackers, idleTimeout } = size;
  await using server = await startServer({ transport: "tcp", idleTimeout });
  const before = await baseline(server);

  // The legitimate long-lived client: a ping every quarter of the timeout.
  const legit = await connectTo(server);
  await writeAll(legit, Uint8Array.of(ECHO));
  let attackOver = false;
  let pings = 0;
  let pingsDuringAttack = 0;
  const pinging = (async () => {
    while (!attackOver) {
      const ping = random.bytes(16);
      await writeAll(legit, ping);
      const pong = await readExactly(legit, 16);
      assert(pong !== null && equalBytes(pong, ping), "an exact pong");
      pings++;
      await delay(idleTimeout / 4);
    }
  })();

  const started = performance.now();
  const lifetimes: number[] = [];
  const endings: Record<string, number> = {};
  const opened: Deno.Conn[] = [];
  let ended = 0;
  await pool(attackers, 100, async () => {
    const conn = await connectTo(server);
    opened.push(conn);
    const connected = performance.now();
    conn.read(new Uint8Array(1)).then(
      (n) => n === null ? "closed (EOF)" : "got bytes",
      (error) => error instanceof Error ? error.name : String(error),
    ).then((ending) => {
      endings[ending] = (endings[ending] ?? 0) + 1;
      lifetimes.push(performance.now() - connected);
      ended++;
    });
  });
  // A new client, once every attacker is connected.
  const openDuringAttack = (await server.stats()).open;
  const pingsBefore = pings;
  await assertEchoes(server, "served during the attack");
  await waitFor(
    "the server to close every silent connection",
    2 * idleTimeout + SETTLE_TIMEOUT_MS,
    () => Promise.resolve(ended === attackers),
  );
  pingsDuringAttack = pings - pingsBefore;
  const attackDuration = performance.now() - started;
  // The long-lived client is still served after the last attacker is gone.
  const lastPings = pings;
  await waitFor(
    "a ping after the attack",
    CLIENT_TIMEOUT_MS,
    () => Promise.resolve(pings > lastPings),
  );
  attackOver = true;
  await pinging;
  await legit.closeWrite();
  assertEquals(await readAll(legit), new Uint8Array(0));
  legit.close();
  for (const conn of opened) conn.close();

  const after = await settle(server, before);
  const stats = await server.stats();
  await stopCleanly(server);
  assertEquals(endings, { "closed (EOF)": attackers }, "how attackers ended");
  assertEquals(stats.handlerErrors, {}, "idle closes are not errors");
  assertEquals(stats.accepted, attackers + 3);
  assertEquals(after, before, "descriptors after the attack");
  return {
    seed,
    "silent connections": attackers,
    idleTimeout: ms(idleTimeout),
    "open at the server once all connected": openDuringAttack,
    "closed by the server (EOF)": endings["closed (EOF)"],
    "silent connection lifetime, min / max": `${ms(Math.min(...lifetimes))} / ${
      ms(Math.max(...lifetimes))
    }`,
    "long-lived client: exact pings":
      `${pings} (${pingsDuringAttack} while the attack was open)`,
    "new client during the attack": "served, exact echo",
    "socket descriptors before / after": `${before} / ${after}`,
    "attack duration": ms(attackDuration),
  };
}

/**
 * Descriptor exhaustion: a server limited to `maxFiles` descriptors meets a
 * burst of connections. It must survive, back off instead of spinning on
 * EMFILE (measured: its CPU time during the burst), and serve again once
 * the burst is over.
 */
export async function exhaustion(
  size: Sizes["exhaustion"],
): Promise<Figures> {
  const { burst, maxFiles, connectTimeout, cpuWindow } = size;
  await using server = await startServer({ transport: "tcp" }, { maxFiles });
  const before = await baseline(server);

  const conns: Deno.Conn[] = [];
  const failures: Record<string, number> = {};
  const started = performance.now();
  await Promise.all(Array.from({ length: burst }, async () => {
    try {
      conns.push(
        await connectTo(server, AbortSignal.timeout(connectTimeout)),
      );
    } catch (error) {
      // Past the listen backlog the kernel drops SYNs: those connects
      // time out, as they would against any server.
      const name = error instanceof Error ? error.name : String(error);
      failures[name] = (failures[name] ?? 0) + 1;
    }
  }));
  const burstDuration = performance.now() - started;
  await waitFor(
    "accept errors",
    SETTLE_TIMEOUT_MS,
    async () => sum((await server.stats()).acceptErrors) > 0,
  );
  const during = await server.descriptors();
  const cpuStart = await server.cpuTime();
  const wallStart = performance.now();
  await delay(cpuWindow);
  const cpu = await server.cpuTime() - cpuStart;
  const wall = performance.now() - wallStart;
  const statsDuring = await server.stats();

  for (const conn of conns) conn.close();
  const recovering = performance.now();
  await assertEchoes(server, "served again after the burst");
  const recovery = performance.now() - recovering;
  const after = await settle(server, before);
  const stats = await server.stats();
  await stopCleanly(server);

  assertGreater(conns.length, maxFiles, "the burst got past the limit");
  assertLessOrEqual(during, maxFiles);
  for (const name of Object.keys(failures)) {
    assertEquals(name, "TimeoutError", "connects fail only by timing out");
  }
  assertGreater(sum(stats.acceptErrors), 0);
  for (const message of Object.values(stats.acceptErrorMessages)) {
    // EMFILE, and nothing else, is what the burst may cause.
    assertStringIncludes(message, "os error 24");
  }
  assertLessOrEqual(
    cpu / wall,
    BUSY_LOOP_CPU_SHARE,
    `CPU time ${cpu} ms in ${wall} ms of EMFILE: a busy loop`,
  );
  assertEquals(stats.handlerErrors, {});
  // Every connection that got in was served: the ones held at the limit,
  // and the ones that waited in the backlog.
  assertEquals(stats.accepted, conns.length + 2);
  assertEquals(after, before, "descriptors after the burst");
  return {
    "descriptor limit (prlimit --nofile)": maxFiles,
    "burst connections": burst,
    "connected (accepted or in the backlog)": conns.length,
    "connects timed out (SYN dropped past the backlog)": failures
      .TimeoutError ?? 0,
    "server descriptors at the limit": during,
    "accept errors while exhausted": `${describe(statsDuring.acceptErrors)}: ${
      Object.values(statsDuring.acceptErrorMessages).join("; ")
    }`,
    "server CPU during the burst": `${Math.round(cpu)} ms in ${ms(wall)} (${
      (cpu / wall * 100).toFixed(1)
    }%)`,
    "burst duration": ms(burstDuration),
    "first exchange after the burst": ms(recovery),
    "accepted in all": stats.accepted,
    "socket descriptors before / after": `${before} / ${after}`,
  };
}

/**
 * Graceful shutdown under load: SIGTERM while exchanges are in flight.
 * Every accepted exchange that ends within `shutdownTimeout` completes; the
 * stuck ones are closed at the deadline; new clients are refused; the
 * process exits 0 by itself.
 */
export async function shutdown(
  size: Sizes["shutdown"],
  seed: number = runSeed(),
): Promise<Figures> {
  const random = seededRandom(seed);
  const { inFlight, stuck, work, shutdownTimeout } = size;
  await using server = await startServer({
    transport: "tcp",
    shutdownTimeout,
  });
  const before = await baseline(server);

  const payloads = Array.from(
    { length: inFlight },
    () => random.bytes(random.int(1, 4096)),
  );
  let exact = 0;
  const working = Promise.all(payloads.map(async (payload) => {
    const reply = await exchange(server, concat(waitHeader(work), payload));
    if (equalBytes(reply, payload)) exact++;
  }));
  const stuckEndings: Record<string, number> = {};
  const stalling = Promise.all(Array.from({ length: stuck }, async () => {
    let ending: string;
    try {
      const reply = await exchange(
        server,
        concat(waitHeader(STUCK_MS), random.bytes(64)),
      );
      ending = reply.length === 0 ? "closed (EOF)" : "got bytes";
    } catch (error) {
      ending = error instanceof Error ? error.name : String(error);
    }
    stuckEndings[ending] = (stuckEndings[ending] ?? 0) + 1;
  }));
  await waitFor(
    "every client to be accepted",
    CLIENT_TIMEOUT_MS,
    async () => (await server.stats()).accepted === inFlight + stuck + 1,
  );
  const open = (await server.stats()).open;
  const during = await server.sockets();

  const stopping = performance.now();
  const exit = server.stop();
  assertEquals(await server.nextLine(), "shutting down");
  // The listener is closed; the kernel may still be letting go of it, so
  // the late client is refused or reset, and in no case served.
  const late = await exchange(
    server,
    concat(Uint8Array.of(ECHO), encoder.encode("too late")),
  ).then(
    (reply) => reply.length === 0 ? "not served (EOF)" : "served",
    (error) => `not served (${error.name})`,
  );
  const { code, signal, final, stderr } = await exit;
  const exitTime = performance.now() - stopping;
  await Promise.all([working, stalling]);

  assertEquals(code, 0, stderr);
  assertEquals(signal, null);
  assertStringIncludes(late, "not served", "a client after SIGTERM");
  assertEquals(exact, inFlight, `in-flight exchanges completed (seed ${seed})`);
  // Closed with its payload unread, a stuck connection ends in an RST.
  for (const ending of Object.keys(stuckEndings)) {
    assert(
      ending === "closed (EOF)" || ending === "ConnectionReset",
      `a stuck client got ${ending}`,
    );
  }
  assert(final !== undefined);
  assertEquals(final.echoed, inFlight + 1);
  assertEquals(final.accepted, inFlight + stuck + 1, "accepted after SIGTERM");
  assertEquals(final.handlerErrors, {}, "forced closes are not errors");
  return {
    seed,
    "in flight at SIGTERM": `${inFlight} (each ${ms(work)} of work)`,
    "stuck past shutdownTimeout": stuck,
    shutdownTimeout: ms(shutdownTimeout),
    "open at SIGTERM": open,
    "completed exactly": `${exact} of ${inFlight}`,
    "stuck ones closed": describe(stuckEndings),
    "a new client after SIGTERM": late,
    "SIGTERM to exit": ms(exitTime),
    "exit code": code,
    "socket descriptors at rest / with the load": `${before} / ${during}`,
  };
}

// ---------------------------------------------------------------------------

/** One case of the bad-input table. */
export interface BadInputCase {
  /** What is wrong, for the step's name. */
  name: string;
  /** The call that must fail. */
  call: () => unknown;
  /** The documented error class. */
  error: new (...args: never[]) => Error;
  /** A part of the message that says how to fix it. */
  fix: string;
}

/** The fixtures that some cases need: a live server, files, closed sockets. */
export interface BadInputFixture extends AsyncDisposable {
  /** The cases, each across a public function. */
  cases: BadInputCase[];
}

/** Asserts that a case fails as documented, with its fix in the message. */
export async function assertBadInput(badCase: BadInputCase): Promise<void> {
  let thrown: unknown;
  try {
    await badCase.call();
  } catch (error) {
    thrown = error;
  }
  assert(thrown !== undefined, `${badCase.name}: did not fail`);
  assertInstanceOf(thrown, badCase.error, badCase.name);
  assertStringIncludes((thrown as Error).message, badCase.fix, badCase.name);
}

/**
 * Builds the bad-input table. The live server, the stale socket and the
 * closed sockets are made here and released by the fixture's disposal.
 */
export async function badInputFixture(): Promise<BadInputFixture> {
  const dir = await Deno.makeTempDir({ prefix: "bad_input_" });
  const live = tcp.serveTcp({ hostname: "127.0.0.1", port: 0 }, () => {});
  const livePath = `${dir}/live.sock`;
  const liveUnix = await unix.serveUnix({ path: livePath }, () => {});
  const filePath = `${dir}/file`;
  await Deno.writeTextFile(filePath, "keep me");
  const closedUdp = udp.listenUdp({ hostname: "127.0.0.1", port: 0 });
  closedUdp.close();
  const openUdp = udp.listenUdp({ hostname: "127.0.0.1", port: 0 });
  const datagramPath = `${dir}/dgram.sock`;
  const datagram = await unix.listenUnixDatagram({ path: datagramPath });
  const abortedSignal = AbortSignal.abort(new Error("stopped by the caller"));
  const reader = (bytes: number[]) => {
    let done = false;
    return {
      read(p: Uint8Array) {
        if (done) return Promise.resolve(null);
        done = true;
        p.set(bytes);
        return Promise.resolve(bytes.length);
      },
    };
  };
  const drain = async (iterator: AsyncIterable<unknown>) => {
    for await (const _ of iterator) { /* consume */ }
  };
  const sink = { write: (p: Uint8Array) => Promise.resolve(p.length) };
  const any = (value: unknown) => value as never;
  const handler = () => {};
  const tooLong = `${dir}/${"s".repeat(120)}`;

  const cases: BadInputCase[] = [
    // serveTcp
    {
      name: "serveTcp() port -1",
      call: () => tcp.serveTcp({ port: -1 }, handler),
      error: RangeError,
      fix: "a port is an integer from 0 to 65535",
    },
    {
      name: "serveTcp() port 65536",
      call: () => tcp.serveTcp({ port: 65536 }, handler),
      error: RangeError,
      fix: "0 lets the system pick a free one",
    },
    {
      name: "serveTcp() unknown service name",
      call: () => tcp.serveTcp({ port: "no-such-service" }, handler),
      error: RangeError,
      fix: "give a port number or a defaultPort",
    },
    {
      name: "serveTcp() port with spaces",
      call: () => tcp.serveTcp({ port: " 80" }, handler),
      error: RangeError,
      fix: "remove the spaces",
    },
    {
      name: "serveTcp() empty hostname",
      call: () => tcp.serveTcp({ hostname: "", port: 0 }, handler),
      error: RangeError,
      fix: '"0.0.0.0" to listen on every address',
    },
    {
      name: "serveTcp() hostname not a string",
      call: () => tcp.serveTcp({ hostname: any(127001), port: 0 }, handler),
      error: TypeError,
      fix: 'such as "127.0.0.1"',
    },
    {
      name: "serveTcp() handler is a string",
      call: () => tcp.serveTcp({ port: 0 }, any("echo")),
      error: TypeError,
      fix: "handler must be a function",
    },
    {
      name: "serveTcp() options missing",
      call: () => tcp.serveTcp(any(undefined), handler),
      error: TypeError,
      fix: "such as { port: 8080 }",
    },
    {
      name: "serveTcp() backlog 0",
      call: () => tcp.serveTcp({ port: 0, backlog: 0 }, handler),
      error: RangeError,
      fix: "positive integer",
    },
    {
      name: "serveTcp() port in use",
      call: () =>
        tcp.serveTcp({ hostname: "127.0.0.1", port: live.addr.port }, handler),
      error: Deno.errors.AddrInUse,
      fix: "choose another port (0 picks a free one)",
    },
    // serve
    {
      name: "serve() listener is not a listener",
      call: () => serve(any({}), handler),
      error: TypeError,
      fix: "from Deno.listen or Deno.listenTls",
    },
    {
      name: "serve() maxConnections 0",
      call: () =>
        tcp.serveTcp({ hostname: "127.0.0.1", maxConnections: 0 }, handler),
      error: RangeError,
      fix: "positive integer or Infinity",
    },
    {
      name: "serve() idleTimeout 0",
      call: () =>
        tcp.serveTcp({ hostname: "127.0.0.1", idleTimeout: 0 }, handler),
      error: RangeError,
      fix: "leave it out (or pass Infinity) for no limit",
    },
    {
      name: "serve() idleTimeout negative",
      call: () =>
        tcp.serveTcp({ hostname: "127.0.0.1", idleTimeout: -5 }, handler),
      error: RangeError,
      fix: "0 or more",
    },
    {
      name: "serve() shutdownTimeout as text",
      call: () =>
        tcp.serveTcp(
          { hostname: "127.0.0.1", shutdownTimeout: any("10s") },
          handler,
        ),
      error: TypeError,
      fix: "must be a number of milliseconds",
    },
    {
      name: "serve() signal not an AbortSignal",
      call: () =>
        tcp.serveTcp({ hostname: "127.0.0.1", signal: any("stop") }, handler),
      error: TypeError,
      fix: "AbortSignal.timeout(1000)",
    },
    {
      name: "serve() onError not a function",
      call: () =>
        tcp.serveTcp({ hostname: "127.0.0.1", onError: any(true) }, handler),
      error: TypeError,
      fix: "(error, conn) => void",
    },
    // TLS
    {
      name: "serveTls() neither cert nor certFile",
      call: () => tls.serveTls(any({ port: 0, key: "k" }), handler),
      error: TypeError,
      fix: "give options.cert (PEM text) or options.certFile (a path)",
    },
    {
      name: "serveTls() certFile missing",
      call: () =>
        tls.serveTls({
          port: 0,
          certFile: `${dir}/missing.pem`,
          keyFile: `${dir}/missing.pem`,
        }, handler),
      error: Deno.errors.NotFound,
      fix: "no such file; check the path",
    },
    {
      name: "serveTls() cert not PEM",
      call: () =>
        tls.serveTls(
          { hostname: "127.0.0.1", port: 0, cert: "x", key: "y" },
          handler,
        ),
      error: Deno.errors.InvalidData,
      fix: "must hold the PEM certificate chain",
    },
    {
      name: "serveTls() handshakeTimeout 0",
      call: () =>
        tls.serveTls(
          { port: 0, cert: "x", key: "y", handshakeTimeout: 0 },
          handler,
        ),
      error: RangeError,
      fix: "leave it out for 10 s",
    },
    {
      name: "connectTls() caCerts not an array",
      call: () => tls.connectTls({ port: 443, caCerts: any("ca.pem") }),
      error: TypeError,
      fix: "array of non-empty strings",
    },
    {
      name: "startTls() not a connection",
      call: () => tls.startTls(any("conn")),
      error: TypeError,
      fix: "from connectTcp or Deno.connect",
    },
    // connectTcp
    {
      name: "connectTcp() port missing",
      call: () => tcp.connectTcp(any({ hostname: "127.0.0.1" })),
      error: TypeError,
      fix: "options.port is required",
    },
    {
      name: "connectTcp() timeout negative",
      call: () => tcp.connectTcp({ port: 80, timeout: -1 }),
      error: RangeError,
      fix: "leave it out for no limit",
    },
    {
      name: "connectTcp() aborted signal",
      call: () =>
        tcp.connectTcp({ port: live.addr.port, signal: abortedSignal }),
      error: Error,
      fix: "stopped by the caller",
    },
    {
      name: "connectTcp() nobody listening",
      call: async () => {
        const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        free.close();
        await tcp.connectTcp({ port: free.addr.port });
      },
      error: Deno.errors.ConnectionRefused,
      fix: "check that a server is listening",
    },
    {
      name: "connectTcp() resolve not a function",
      call: () => tcp.connectTcp({ port: 80, resolve: any("dns") }),
      error: TypeError,
      fix: "(hostname, { signal }) => Promise<string[]>",
    },
    // serveUnix, connectUnix
    {
      name: "serveUnix() path longer than sun_path",
      call: () => unix.serveUnix({ path: tooLong }, handler),
      error: RangeError,
      fix: "choose a shorter path",
    },
    {
      name: "serveUnix() empty path",
      call: () => unix.serveUnix({ path: "" }, handler),
      error: RangeError,
      fix: 'such as "/tmp/app.sock"',
    },
    {
      name: "serveUnix() path with NUL",
      call: () => unix.serveUnix({ path: `${dir}/a\0b` }, handler),
      error: RangeError,
      fix: "must not contain NUL",
    },
    {
      name: "serveUnix() mode too wide",
      call: () =>
        unix.serveUnix({ path: `${dir}/m.sock`, mode: 0o1777 }, handler),
      error: RangeError,
      fix: "from 0o000 to 0o777",
    },
    {
      name: "serveUnix() mode as text",
      call: () =>
        unix.serveUnix({ path: `${dir}/m.sock`, mode: any("600") }, handler),
      error: TypeError,
      fix: "such as 0o600",
    },
    {
      name: "serveUnix() options without a path",
      call: () => unix.serveUnix(any(null), handler),
      error: TypeError,
      fix: 'such as { path: "/tmp/app.sock" }',
    },
    {
      name: "serveUnix() a regular file at the path",
      call: () => unix.serveUnix({ path: filePath }, handler),
      error: Deno.errors.AlreadyExists,
      fix: "left untouched; choose another path",
    },
    {
      name: "serveUnix() a directory at the path",
      call: () => unix.serveUnix({ path: dir }, handler),
      error: Deno.errors.AlreadyExists,
      fix: "choose another path",
    },
    {
      name: "serveUnix() a live server at the path",
      call: () => unix.serveUnix({ path: livePath }, handler),
      error: Deno.errors.AddrInUse,
      fix: "stop that server or choose another path",
    },
    {
      name: "serveUnix() handler is an object",
      call: () => unix.serveUnix({ path: `${dir}/h.sock` }, any({})),
      error: TypeError,
      fix: "handler must be a function",
    },
    {
      name: "connectUnix() no file",
      call: () => unix.connectUnix(`${dir}/missing.sock`),
      error: Deno.errors.NotFound,
      fix: "start the server first",
    },
    {
      name: "connectUnix() aborted signal",
      call: () => unix.connectUnix(livePath, { signal: abortedSignal }),
      error: Error,
      fix: "stopped by the caller",
    },
    // Unix datagrams
    {
      name: "listenUnixDatagram() maxDatagramSize 0",
      call: () =>
        unix.listenUnixDatagram({ path: `${dir}/d.sock`, maxDatagramSize: 0 }),
      error: RangeError,
      fix: "1 or more",
    },
    {
      name: "connectUnixDatagram() dir and localPath both",
      call: () =>
        unix.connectUnixDatagram(datagramPath, {
          dir,
          localPath: `${dir}/c.sock`,
        }),
      error: TypeError,
      fix: "pass one of them",
    },
    {
      name: "UnixDatagramSocket.send() text payload",
      call: () => datagram.send(any("hello"), datagramPath),
      error: TypeError,
      fix: "must be a Uint8Array",
    },
    // UDP
    {
      name: "listenUdp() reuseAddress as text",
      call: () => udp.listenUdp({ port: 0, reuseAddress: any("yes") }),
      error: TypeError,
      fix: "must be true or false",
    },
    {
      name: "listenUdp() port 70000",
      call: () => udp.listenUdp({ port: 70000 }),
      error: RangeError,
      fix: "an integer from 0 to 65535",
    },
    {
      name: "UdpSocket.send() text payload",
      call: () => openUdp.send(any("hello"), openUdp.addr),
      error: TypeError,
      fix: 'new TextEncoder().encode("hello")',
    },
    {
      name: "UdpSocket.send() oversize datagram",
      call: () =>
        openUdp.send(
          new Uint8Array(udp.MAX_UDP_PAYLOAD_IPV4 + 1),
          openUdp.addr,
        ),
      error: RangeError,
      fix: "split it into several datagrams or use TCP",
    },
    {
      name: "UdpSocket.send() to port 0",
      call: () =>
        openUdp.send(new Uint8Array(1), { hostname: "127.0.0.1", port: 0 }),
      error: RangeError,
      fix: "must be from 1 to 65535",
    },
    {
      name: "UdpSocket.send() IPv6 target from an IPv4 socket",
      call: () => openUdp.send(new Uint8Array(1), { hostname: "::1", port: 9 }),
      error: RangeError,
      fix: 'bind the socket to "::"',
    },
    {
      name: "UdpSocket.send() on a closed socket",
      call: () => closedUdp.send(new Uint8Array(1), openUdp.addr),
      error: Deno.errors.BadResource,
      fix: "the socket is closed",
    },
    {
      name: "UdpSocket.receive() on a closed socket",
      call: () => closedUdp.receive(),
      error: Deno.errors.BadResource,
      fix: "the socket is closed",
    },
    {
      name: "requestUdp() attemptTimeout 0",
      call: () =>
        udp.requestUdp(new Uint8Array(1), openUdp.addr, { attemptTimeout: 0 }),
      error: RangeError,
      fix: "must be more than 0 ms",
    },
    {
      name: "requestUdp() retries as text",
      call: () =>
        udp.requestUdp(new Uint8Array(1), openUdp.addr, { retries: any("3") }),
      error: TypeError,
      fix: "0 sends once",
    },
    {
      name: "requestUdp() backoff below 1",
      call: () =>
        udp.requestUdp(new Uint8Array(1), openUdp.addr, { backoff: 0.5 }),
      error: RangeError,
      fix: "2 doubles each wait",
    },
    {
      name: "requestUdp() aborted signal",
      call: () =>
        udp.requestUdp(new Uint8Array(1), openUdp.addr, {
          signal: abortedSignal,
        }),
      error: Error,
      fix: "stopped by the caller",
    },
    {
      name: "requestUdp() oversize datagram",
      call: () =>
        udp.requestUdp(
          new Uint8Array(udp.MAX_UDP_PAYLOAD_IPV4 + 1),
          openUdp.addr,
        ),
      error: RangeError,
      fix: "split it into several datagrams",
    },
    {
      name: "serveUdp() handler is a number",
      call: () => udp.serveUdp({ port: 0 }, any(42)),
      error: TypeError,
      fix: "(data, from, context) => reply | undefined",
    },
    {
      name: "serveUdp() maxConcurrency 0",
      call: () => udp.serveUdp({ port: 0, maxConcurrency: 0 }, handler),
      error: RangeError,
      fix: "positive integer or Infinity",
    },
    // io
    {
      name: "writeAll() text data",
      call: () => io.writeAll(sink, any("hello")),
      error: TypeError,
      fix: "encode text with new TextEncoder().encode(text)",
    },
    {
      name: "writeAll() writer without write()",
      call: () => io.writeAll(any({}), new Uint8Array(1)),
      error: TypeError,
      fix: "pass an object with a write(bytes) method",
    },
    {
      name: "readExactly() negative length",
      call: () => io.readExactly(reader([1]), -1),
      error: RangeError,
      fix: "pass a whole number of bytes",
    },
    {
      name: "lines() maxLineLength 0",
      call: () => io.lines(reader([]), { maxLineLength: 0 }),
      error: RangeError,
      fix: "positive integer or Infinity",
    },
    {
      name: "lines() a line over maxLineLength",
      call: () =>
        drain(io.lines(reader([97, 97, 97, 10]), { maxLineLength: 2 })),
      error: Deno.errors.InvalidData,
      fix: "raise maxLineLength",
    },
    {
      name: "frames() a frame over maxFrameSize",
      call: () => drain(io.frames(reader([0, 0, 1, 0]), { maxFrameSize: 255 })),
      error: Deno.errors.InvalidData,
      fix: "raise maxFrameSize",
    },
    {
      name: "frames() the stream ends inside a header",
      call: () => drain(io.frames(reader([0, 0]))),
      error: Deno.errors.UnexpectedEof,
      fix: "after 2 of 4 bytes",
    },
    {
      name: "frames() the stream ends inside a payload",
      call: () => drain(io.frames(reader([0, 0, 0, 9, 1, 2]))),
      error: Deno.errors.UnexpectedEof,
      fix: "after 2 of 9 bytes",
    },
    {
      name: "writeFrame() payload over maxFrameSize",
      call: () => io.writeFrame(sink, new Uint8Array(11), { maxFrameSize: 10 }),
      error: RangeError,
      fix: "split it into smaller frames",
    },
    {
      name: "copy() aborted signal",
      call: () => io.copy(reader([1]), sink, { signal: abortedSignal }),
      error: Error,
      fix: "stopped by the caller",
    },
    // services, resolve
    {
      name: "resolvePort() protocol sctp",
      call: () => resolvePort(80, { protocol: any("sctp") }),
      error: RangeError,
      fix: 'use "tcp" or "udp"',
    },
    {
      name: "lookupPort() name not a string",
      call: () => lookupPort(any(80)),
      error: TypeError,
      fix: 'such as "http"',
    },
    {
      name: "lookupHost() empty hostname",
      call: () => lookupHost(""),
      error: RangeError,
      fix: 'give an address such as "127.0.0.1"',
    },
    {
      name: "lookupHost() hostname with a port",
      call: () => lookupHost("example.com:80"),
      error: RangeError,
      fix: "the port is a separate argument",
    },
  ];
  return {
    cases,
    async [Symbol.asyncDispose]() {
      openUdp.close();
      datagram.close();
      await liveUnix.shutdown();
      await live.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs the whole table (for the full run) and reports it. */
export async function badInput(): Promise<Figures> {
  const descriptorsBefore = await countOwnDescriptors();
  let passed = 0;
  const functions = new Set<string>();
  {
    await using fixture = await badInputFixture();
    for (const badCase of fixture.cases) {
      await assertBadInput(badCase);
      functions.add(badCase.name.split(" ")[0]);
      passed++;
    }
  }
  const descriptorsAfter = await countOwnDescriptors();
  assertEquals(descriptorsAfter, descriptorsBefore);
  return {
    cases: passed,
    "public functions covered": functions.size,
    "each: documented class, message with the fix": `${passed} of ${passed}`,
    "descriptors before / after (this process)":
      `${descriptorsBefore} / ${descriptorsAfter}`,
  };
}

/** The open descriptors of this process. */
export async function countOwnDescriptors(): Promise<number> {
  let count = 0;
  for await (const _ of Deno.readDir("/proc/self/fd")) count++;
  return count;
}

// ---------------------------------------------------------------------------

const LF = 0x0a;
const CR = 0x0d;

/** The outcome of reading a whole input: what came out, then how it ended. */
interface Outcome<T> {
  items: T[];
  error?: string;
}

/** `lines()` as its documentation states it, on a whole input at once. */
export function referenceLines(
  input: Uint8Array,
  max: number,
): Outcome<string> {
  const decode = (bytes: Uint8Array) =>
    new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  const items: string[] = [];
  let start = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== LF) continue;
    const end = i > start && input[i - 1] === CR ? i - 1 : i;
    if (end - start > max) return { items, error: "InvalidData" };
    items.push(decode(input.subarray(start, end)));
    start = i + 1;
  }
  if (start < input.length) {
    if (input.length - start > max) return { items, error: "InvalidData" };
    items.push(decode(input.subarray(start)));
  }
  return { items };
}

/** `frames()` as its documentation states it, on a whole input at once. */
export function referenceFrames(
  input: Uint8Array,
  max: number,
): Outcome<Uint8Array> {
  const items: Uint8Array[] = [];
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  let at = 0;
  while (at < input.length) {
    if (input.length - at < 4) return { items, error: "UnexpectedEof" };
    const length = view.getUint32(at);
    if (length > max) return { items, error: "InvalidData" };
    if (input.length - at - 4 < length) {
      return { items, error: "UnexpectedEof" };
    }
    items.push(input.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { items };
}

/** A reader that hands out `input` cut at random points. */
function splitReader(input: Uint8Array, random: Random) {
  const cuts = [0];
  while (cuts.at(-1)! < input.length) {
    // Mostly small pieces, sometimes large ones, as a network delivers them.
    const piece = random.next() < 0.8
      ? random.int(1, 16)
      : random.int(1, input.length);
    cuts.push(Math.min(input.length, cuts.at(-1)! + piece));
  }
  let piece = 1;
  let at = 0;
  return {
    pieces: cuts.length - 1,
    read(p: Uint8Array): Promise<number | null> {
      if (at === input.length) return Promise.resolve(null);
      const n = Math.min(p.length, cuts[piece] - at);
      p.set(input.subarray(at, at + n));
      at += n;
      if (at === cuts[piece]) piece++;
      return Promise.resolve(n);
    },
  };
}

async function collect<T>(iterator: AsyncIterable<T>): Promise<Outcome<T>> {
  const items: T[] = [];
  try {
    for await (const item of iterator) items.push(item);
  } catch (error) {
    return {
      items,
      error: error instanceof Error ? error.name : String(error),
    };
  }
  return { items };
}

/** Pieces of text that exercise the decoder and the line endings. */
const LINE_PIECES = [
  "a",
  "b",
  "xyz",
  " ",
  "\n",
  "\n",
  "\r\n",
  "\r",
  "é",
  "€",
  "😀",
  "\uFEFF",
].map((text) => encoder.encode(text)).concat([
  // Invalid UTF-8: a lone continuation byte, a truncated sequence, 0xFF.
  Uint8Array.of(0x80),
  Uint8Array.of(0xe2, 0x82),
  Uint8Array.of(0xff),
]);

/** Line limits around the sizes of the pieces, and no limit. */
const LINE_LIMITS = [1, 2, 3, 4, 7, 16, 64, 1000, Infinity];

function randomLinesInput(random: Random): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  const count = random.int(0, 60);
  for (let i = 0; i < count; i++) {
    parts.push(LINE_PIECES[random.int(0, LINE_PIECES.length - 1)]);
  }
  return concat(...parts);
}

/** Frame limits: tiny, around the adaptive buffer's 1 KiB start, and past its 64 KiB. */
const FRAME_LIMITS = [0, 1, 7, 100, 1024, 4096, 70_000];

function randomFramesInput(
  random: Random,
  max: number,
): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  const count = random.int(0, 8);
  for (let i = 0; i < count; i++) {
    // Mostly within the limit, sometimes just over it; rarely a large one.
    const large = max > 65_536 && random.next() < 0.02;
    const length = large
      ? random.int(65_536, max)
      : Math.min(random.int(0, Math.min(max, 200) + 1), 2 ** 32 - 1);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, length);
    parts.push(header, random.bytes(Math.min(length, max + 1)));
  }
  let input = concat(...parts);
  const r = random.next();
  if (r < 0.2 && input.length > 0) {
    input = input.slice(0, random.int(0, input.length - 1));
  } else if (r < 0.3) {
    input = concat(input, random.bytes(random.int(1, 6)));
  }
  return input;
}

/**
 * Framing fuzz: `lines()` and `frames()` read random inputs, split at
 * random points, and must give exactly what a simple reference gives on the
 * whole input: the same items byte for byte, and the same error class at
 * the same place when a limit is exceeded or the input is cut short.
 */
export async function framingFuzz(
  size: Sizes["fuzz"],
  seed: number = runSeed(),
): Promise<Figures> {
  const random = seededRandom(seed);
  const lineErrors: Record<string, number> = {};
  const frameErrors: Record<string, number> = {};
  let lineCount = 0;
  let frameCount = 0;
  let frameBytes = 0;
  let pieces = 0;
  const started = performance.now();
  for (let i = 0; i < size.inputs; i++) {
    const max = LINE_LIMITS[random.int(0, LINE_LIMITS.length - 1)];
    const input = randomLinesInput(random);
    const reader = splitReader(input, random);
    pieces += reader.pieces;
    const got = await collect(lines(reader, { maxLineLength: max }));
    const want = referenceLines(input, max);
    assertEquals(
      got,
      want,
      `lines() on input ${i} (seed ${seed}, maxLineLength ${max}): ${
        JSON.stringify([...input])
      }`,
    );
    lineCount += got.items.length;
    if (got.error) lineErrors[got.error] = (lineErrors[got.error] ?? 0) + 1;
  }
  for (let i = 0; i < size.inputs; i++) {
    const max = FRAME_LIMITS[random.int(0, FRAME_LIMITS.length - 1)];
    const input = randomFramesInput(random, max);
    const reader = splitReader(input, random);
    pieces += reader.pieces;
    const got = await collect(frames(reader, { maxFrameSize: max || 1 }));
    const want = referenceFrames(input, max || 1);
    assertEquals(
      got.error,
      want.error,
      `frames() on input ${i} (seed ${seed})`,
    );
    assertEquals(got.items.length, want.items.length);
    for (let j = 0; j < got.items.length; j++) {
      assert(
        equalBytes(got.items[j], want.items[j]),
        `frames() on input ${i}, frame ${j} (seed ${seed})`,
      );
      frameBytes += got.items[j].length;
    }
    frameCount += got.items.length;
    if (got.error) frameErrors[got.error] = (frameErrors[got.error] ?? 0) + 1;
  }
  return {
    seed,
    "inputs to lines()": size.inputs,
    "inputs to frames()": size.inputs,
    "reads (pieces) served": pieces,
    "lines, all byte-exact": lineCount,
    "lines() errors, as the reference": describe(lineErrors),
    "frames, all byte-exact": `${frameCount} (${frameBytes} bytes)`,
    "frames() errors, as the reference": describe(frameErrors),
    duration: ms(performance.now() - started),
  };
}

// ---------------------------------------------------------------------------

async function lstatOrUndefined(path: string) {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Starts the server and expects it to refuse, returning its stderr. */
async function startRefused(path: string): Promise<string> {
  const error = await startServer({ transport: "unix", path }).then(
    async (server) => {
      await server.kill();
      throw new Error(`a server started at ${path}`);
    },
    (error) => error,
  );
  assertInstanceOf(error, ServerStartError);
  assertEquals(error.exit.code, 1);
  return error.exit.stderr;
}

/** Watches `path` from another process while a server starts there with `mode`. */
async function watchStart(path: string, mode: number) {
  const poller = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${path}`,
      new URL("./lstat_poller.ts", import.meta.url).pathname,
      path,
      "2000",
      String(CLIENT_TIMEOUT_MS),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = poller.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!text.includes("ready\n")) {
    const { value, done } = await output.read();
    if (done) break;
    text += value;
  }
  const server = await startServer({ transport: "unix", path, mode });
  try {
    for (;;) {
      const { value, done } = await output.read();
      if (done) break;
      text += value;
    }
    await poller.status;
    const result: {
      polls: number;
      seen: number;
      modes: Record<string, number>;
    } = JSON.parse(text.slice(text.indexOf("ready\n") + 6));
    return result;
  } finally {
    await server.stop();
  }
}

/**
 * Unix socket files: a server never deletes a regular file, a directory or
 * a live server's socket at its path; its socket is never seen with a mode
 * wider than asked, by a process polling `lstat` while it starts; and the
 * socket of a server killed with SIGKILL is recovered by the next one.
 */
export async function unixFiles(size: Sizes["unixFiles"]): Promise<Figures> {
  const dir = await Deno.makeTempDir({ prefix: "soak_unix_" });
  try {
    // A regular file and a directory stay as they were.
    const file = `${dir}/file.sock`;
    await Deno.writeTextFile(file, "precious");
    const fileError = await startRefused(file);
    assertStringIncludes(fileError, "AlreadyExists");
    assertStringIncludes(fileError, "left untouched");
    assertEquals(await Deno.readTextFile(file), "precious");
    const directory = `${dir}/dir.sock`;
    await Deno.mkdir(directory);
    await Deno.writeTextFile(`${directory}/inside`, "precious");
    const dirError = await startRefused(directory);
    assertStringIncludes(dirError, "AlreadyExists");
    assertEquals(await Deno.readTextFile(`${directory}/inside`), "precious");

    // A live server keeps its socket, and serves on.
    const livePath = `${dir}/live.sock`;
    let liveBefore: number;
    let liveAfter: number;
    let liveInode: number | null;
    {
      await using live = await startServer({
        transport: "unix",
        path: livePath,
      });
      liveBefore = await baseline(live);
      liveInode = (await Deno.lstat(livePath)).ino;
      const liveError = await startRefused(livePath);
      assertStringIncludes(liveError, "AddrInUse");
      assertStringIncludes(liveError, "a live server owns this socket file");
      assertEquals((await Deno.lstat(livePath)).ino, liveInode);
      await assertEchoes(live, "still serving");
      liveAfter = await settle(live, liveBefore);
      await stopCleanly(live);
    }
    assertEquals(liveAfter, liveBefore, "the live server's descriptors");
    assertEquals(await lstatOrUndefined(livePath), undefined);

    // A crashed server's socket is recovered.
    const crashPath = `${dir}/crash.sock`;
    const crashed = await startServer({ transport: "unix", path: crashPath });
    const crashExit = await crashed.kill();
    assertEquals(crashExit.signal, "SIGKILL");
    assert((await Deno.lstat(crashPath)).isSocket, "the killed server's file");
    await assertRejects(
      () => Deno.connect({ transport: "unix", path: crashPath }),
      Deno.errors.ConnectionRefused,
    );
    {
      await using recovered = await startServer({
        transport: "unix",
        path: crashPath,
      });
      // Served through the path: the stale file was replaced by a live one.
      await assertEchoes(recovered, "after the crash");
      await stopCleanly(recovered);
    }

    // The mode, watched from another process during each start.
    const modes: Record<string, number> = {};
    let polls = 0;
    let seen = 0;
    for (let i = 0; i < size.modeStarts; i++) {
      const result = await watchStart(`${dir}/mode.sock`, 0o600);
      polls += result.polls;
      seen += result.seen;
      for (const [mode, n] of Object.entries(result.modes)) {
        modes[mode] = (modes[mode] ?? 0) + n;
      }
      assertGreater(result.seen, 0, "the poller saw the socket");
    }
    for (const mode of Object.keys(modes)) {
      assertEquals(Number.parseInt(mode, 8) & ~0o600, 0, `mode 0o${mode} seen`);
    }
    assertFalse(await lstatOrUndefined(`${dir}/mode.sock`) !== undefined);
    return {
      "regular file at the path": "refused (AlreadyExists), content intact",
      "directory at the path": "refused (AlreadyExists), content intact",
      "live server's socket": "refused (AddrInUse), same inode, still serving",
      "live server socket descriptors before / after":
        `${liveBefore} / ${liveAfter}`,
      "socket of a SIGKILLed server": "replaced by the next server, served",
      "starts with mode 0o600 watched": size.modeStarts,
      "lstat polls / socket seen": `${polls} / ${seen}`,
      "modes seen": Object.entries(modes).map(([m, n]) => `0o${m}: ${n}`)
        .join(", "),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------

/** The directories the example headers grant; tests grant temp directories instead. */
const HEADER_DIR = /\/tmp\/sockets-net(?=[/,]|$)/g;

/**
 * Arguments that keep an example's files in `dir` and its ports free: the
 * examples whose header does not say their path are named; any other whose header
 * grants a socket file gets it as `--path`, and servers get port 0.
 */
function exampleArgs(name: string, flags: string[], dir: string): string[] {
  if (name === "unix_datagram_client.ts") {
    return [
      "--path",
      `${dir}/datagram.sock`,
      "--local-path",
      `${dir}/client.sock`,
    ];
  }
  // Its header grants every Unix path (--allow-net): it names none.
  if (name === "unix_datagram_server.ts") {
    return ["--path", `${dir}/datagram.sock`];
  }
  // Examples with required arguments: a role, a host and a port.
  if (name === "udp_multicast.ts") return ["receive", "--port", "0"];
  if (name === "netcat.ts") return ["127.0.0.1", "1"];
  // The TLS examples read the certificates that TLS_EXAMPLES makes in dir.
  if (name === "tls_echo_server.ts") {
    return [
      "--port",
      "0",
      "--cert-file",
      `${dir}/cert.pem`,
      "--key-file",
      `${dir}/key.pem`,
    ];
  }
  if (TLS_EXAMPLES.has(name)) {
    return ["--port", "1", "--ca-file", `${dir}/ca.pem`];
  }
  // Two socket files: the served one and the handover's control socket.
  if (name === "restart_server.ts") {
    return [
      "--path",
      `${dir}/restart.sock`,
      "--control",
      `${dir}/restart.control`,
    ];
  }
  const socket = flags.join(" ").match(/unix:([^,\s]*\/[^/.,\s][^/,\s]*)/);
  if (socket !== null) return ["--path", socket[1]];
  return name.endsWith("_server.ts") ? ["--port", "0"] : [];
}

/** The ids of this process's children, from `/proc`. */
async function children(): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === Deno.pid) found.push(Number(entry.name));
    } catch {
      // The process ended while it was listed.
    }
  }
  return found.sort();
}

/** The examples that read certificates: the scenario makes them with openssl. */
const TLS_EXAMPLES = new Set([
  "tls_echo_server.ts",
  "tls_echo_client.ts",
  "starttls_client.ts",
]);

const permissionFlag = (flag: string) =>
  flag.startsWith("--allow-") || flag.startsWith("--unstable-");

/**
 * Permissions: every example run without one of its header flags fails,
 * naming that flag, and leaves nothing behind: no socket file, no private
 * directory, no child process.
 */
export async function permissions(
  size: Sizes["permissions"],
  seed: number = runSeed(),
): Promise<Figures> {
  const random = seededRandom(seed);
  const root = new URL("../../examples/", import.meta.url);
  const names: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.isFile && entry.name.endsWith(".ts")) names.push(entry.name);
  }
  names.sort();
  const demoDir = "/tmp/sockets-net-demo";
  const demoDirBefore = await lstatOrUndefined(demoDir);
  const childrenBefore = await children();
  let runs = 0;
  const started = performance.now();
  for (const name of names) {
    const dir = await Deno.makeTempDir({ prefix: "soak_perm_" });
    try {
      const flags = headerFlags(name).map((flag) =>
        flag.replaceAll(HEADER_DIR, dir)
      );
      const args = exampleArgs(name, flags, dir);
      const options = { flags, stdin: "x\n" };
      const made: string[] = [];
      if (TLS_EXAMPLES.has(name)) {
        await makeCertificates(dir);
        for await (const entry of Deno.readDir(dir)) made.push(entry.name);
      }
      if (size.everyFlag) {
        await assertFlagsNeeded(name, args, options);
        runs += flags.filter(permissionFlag).length;
      } else {
        const candidates = flags.filter(permissionFlag);
        const flag = candidates[random.int(0, candidates.length - 1)];
        const result = await runExample(name, args, {
          ...options,
          flags: flags.filter((other) => other !== flag),
        });
        const context = `examples/${name} without ${flag}`;
        assertNotEquals(result.code, 0, `${context} exited 0`);
        assertStringIncludes(result.stderr, flag.split("=")[0], context);
        assertFalse(
          /^\s+at /m.test(result.stderr),
          `${context}: a stack trace`,
        );
        runs++;
      }
      const left: string[] = [];
      for await (const entry of Deno.readDir(dir)) {
        if (!made.includes(entry.name)) left.push(entry.name);
      }
      assertEquals(left, [], `examples/${name} left files behind`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  if (demoDirBefore === undefined) {
    assertEquals(await lstatOrUndefined(demoDir), undefined, demoDir);
  }
  assertEquals(await children(), childrenBefore, "child processes left");
  return {
    seed,
    examples: names.length,
    "runs, each without one header flag": runs,
    "failed naming the flag, without a stack trace": `${runs} of ${runs}`,
    "files left in the socket directories": 0,
    "child processes left": 0,
    duration: ms(performance.now() - started),
  };
}

// ---------------------------------------------------------------------------

/**
 * UDP under loss: `requestUdp()` against a server that ignores a random 30%
 * of datagrams. Every request completes with its exact answer within its
 * retry budget, or fails with `TimedOut` listing every attempt.
 */
export async function udpLoss(
  size: Sizes["udpLoss"],
  seed: number = runSeed(),
): Promise<Figures> {
  const random = seededRandom(seed);
  const { requests, concurrency, timeout, retries } = size;
  const drop = 0.3;
  await using server = await startServer({ transport: "udp", drop, seed });
  const udpTarget = { hostname: "127.0.0.1", port: server.port };
  // A first request, so that whatever the runtime opens lazily is open.
  await requestUdp(encoder.encode("warm-up"), udpTarget, {
    attemptTimeout: timeout,
    retries,
  });
  const warmUp = await server.stats();
  const before = await server.sockets();

  let exact = 0;
  const failures: string[] = [];
  const started = performance.now();
  await pool(requests, concurrency, async (i) => {
    const payload = concat(
      encoder.encode(`${i}:`),
      random.bytes(random.int(0, 512)),
    );
    try {
      const answer = await requestUdp(payload, udpTarget, {
        attemptTimeout: timeout,
        retries,
      });
      assert(equalBytes(answer, payload), `request ${i}: the exact answer`);
      exact++;
    } catch (error) {
      assertInstanceOf(error, Deno.errors.TimedOut, `request ${i}`);
      assertStringIncludes(
        error.message,
        `no answer after ${retries + 1} attempts`,
      );
      failures.push(error.message);
    }
  });
  const duration = performance.now() - started;
  const stats = await server.stats();
  const after = await settle(server, before);
  await stopCleanly(server);

  const received = stats.accepted - warmUp.accepted;
  const ignored = stats.dropped - warmUp.dropped;
  assertEquals(exact + failures.length, requests);
  assertEquals(stats.accepted, stats.echoed + stats.dropped);
  assertEquals(stats.handlerErrors, {});
  assertEquals(stats.acceptErrors, {});
  assertEquals(after, before, "descriptors after the requests");
  return {
    seed,
    requests,
    "at once": concurrency,
    "retry budget": `${retries + 1} attempts, first wait ${
      ms(timeout)
    }, doubling`,
    "answered exactly": exact,
    "timed out, listing every attempt": failures.length,
    ...(failures.length === 0 ? {} : { "first time-out": failures[0] }),
    "datagrams the server got / ignored": `${received} / ${ignored} (${
      (ignored / received * 100).toFixed(1)
    }%)`,
    "attempts per request, mean": (received / requests).toFixed(2),
    "socket descriptors before / after": `${before} / ${after}`,
    duration: ms(duration),
  };
}
