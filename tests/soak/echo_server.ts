/**
 * The server that the reliability scenarios run as a child process, so that
 * its descriptors (`/proc/<pid>/fd`) and CPU time (`/proc/<pid>/stat`) can be
 * watched from outside, and its resource limit set with `prlimit`.
 *
 * Usage: `deno run <permissions> tests/soak/echo_server.ts '<config JSON>'`
 * (see {@linkcode ServerConfig}). Once ready it prints
 * `listening on <address>`. Each line `stats` on its stdin is answered with
 * one line of JSON ({@linkcode ServerStats}). SIGTERM shuts it down
 * gracefully: it prints `shutting down`, then, once stopped, `final <JSON>`;
 * the process then ends by itself, with nothing left to keep it alive.
 *
 * A stream client chooses what its handler does with its first byte:
 * - `E`: echo every byte until the client half-closes;
 * - `T`: throw, as a buggy handler does;
 * - `W` and a 4-byte big-endian delay in ms: wait that long, then echo.
 *
 * The UDP server answers each datagram with itself, except a random
 * `drop` fraction of them, which it ignores as a lossy network would.
 *
 * @module
 */

import { copy, lines, readExactly } from "../../io.ts";
import type { Server } from "../../server.ts";
import { serveTcp } from "../../tcp.ts";
import { serveUdp } from "../../udp.ts";
import { serveUnix } from "../../unix.ts";
import { seededRandom } from "./random.ts";

/** What the server listens on and how. */
export interface ServerConfig {
  /** The transport. */
  transport: "tcp" | "unix" | "udp";
  /** The socket file, for `unix`. */
  path?: string;
  /** The socket file's mode, for `unix`. */
  mode?: number;
  /** The engine's `idleTimeout`. */
  idleTimeout?: number;
  /** The engine's `maxConnections`. */
  maxConnections?: number;
  /** The engine's (or the UDP server's) `shutdownTimeout`. */
  shutdownTimeout?: number;
  /** For `udp`: the fraction of datagrams ignored. */
  drop?: number;
  /** For `udp`: the seed of the drops. */
  seed?: number;
}

/** What the server counted, as printed for `stats` and at the end. */
export interface ServerStats {
  /** Connections accepted, or datagrams received. */
  accepted: number;
  /** Connections open now (stream servers). */
  open: number;
  /** Exchanges that ended with every byte echoed. */
  echoed: number;
  /** Handlers that threw because their client asked (`T`). */
  requestedFailures: number;
  /** Other handler errors reported to `onError`, by error class. */
  handlerErrors: Record<string, number>;
  /** Accept (or receive) errors reported to `onError`, by error class. */
  acceptErrors: Record<string, number>;
  /** The first message of each class of accept error, such as EMFILE's. */
  acceptErrorMessages: Record<string, string>;
  /** UDP datagrams ignored on purpose. */
  dropped: number;
}

const ECHO = "E".charCodeAt(0);
const THROW = "T".charCodeAt(0);
const WAIT = "W".charCodeAt(0);

/** The error a `T` client asks for, told apart from real failures by its message. */
const REQUESTED_FAILURE = "requested failure";

const stats: ServerStats = {
  accepted: 0,
  open: 0,
  echoed: 0,
  requestedFailures: 0,
  handlerErrors: {},
  acceptErrors: {},
  acceptErrorMessages: {},
  dropped: 0,
};

function count(table: Record<string, number>, error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  table[name] = (table[name] ?? 0) + 1;
}

function onError(error: unknown, peer?: unknown): void {
  if (peer === undefined) {
    count(stats.acceptErrors, error);
    const name = error instanceof Error ? error.name : typeof error;
    stats.acceptErrorMessages[name] ??= error instanceof Error
      ? error.message
      : String(error);
  } else if (error instanceof Error && error.message === REQUESTED_FAILURE) {
    stats.requestedFailures++;
  } else {
    count(stats.handlerErrors, error);
  }
}

/**
 * A wait that does not keep the process alive: a handler still waiting when
 * a forced shutdown closed its connection must not delay the exit.
 */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => Deno.unrefTimer(setTimeout(resolve, ms)));
}

async function handle(conn: Deno.Conn): Promise<void> {
  stats.accepted++;
  const command = await readExactly(conn, 1);
  if (command === null) return;
  if (command[0] === THROW) throw new Error(REQUESTED_FAILURE);
  if (command[0] === WAIT) {
    const delay = await readExactly(conn, 4);
    if (delay === null) return;
    await sleep(new DataView(delay.buffer).getUint32(0));
  } else if (command[0] !== ECHO) {
    throw new Error(`unknown command ${command[0]}`);
  }
  await copy(conn, conn);
  stats.echoed++;
}

function formatAddr(addr: Deno.Addr): string {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return addr.path;
  }
  const { hostname, port } = addr as Deno.NetAddr;
  return `${hostname}:${port}`;
}

async function main(config: ServerConfig): Promise<void> {
  const controller = new AbortController();
  const options = {
    idleTimeout: config.idleTimeout,
    maxConnections: config.maxConnections,
    shutdownTimeout: config.shutdownTimeout,
    signal: controller.signal,
    onError,
  };
  let server: Pick<Server, "addr" | "finished"> & { connections?: number };
  try {
    if (config.transport === "tcp") {
      server = serveTcp({ hostname: "127.0.0.1", port: 0, ...options }, handle);
    } else if (config.transport === "unix") {
      server = await serveUnix(
        { path: config.path!, mode: config.mode, ...options },
        handle,
      );
    } else {
      const random = seededRandom(config.seed ?? 0);
      server = serveUdp({
        hostname: "127.0.0.1",
        port: 0,
        shutdownTimeout: config.shutdownTimeout,
        signal: controller.signal,
        onError,
      }, (data) => {
        stats.accepted++;
        if (random.next() < (config.drop ?? 0)) {
          stats.dropped++;
          return null;
        }
        stats.echoed++;
        return data;
      });
    }
  } catch (error) {
    // The scenarios read the class and the message, as a user would.
    console.error(
      error instanceof Error ? `${error.name}: ${error.message}` : error,
    );
    Deno.exitCode = 1;
    return;
  }
  const snapshot = () =>
    JSON.stringify({ ...stats, open: server.connections ?? 0 });

  const onTerm = () => {
    // After the abort, so that a client that reads the line finds the
    // listener closed.
    controller.abort();
    console.log("shutting down");
  };
  Deno.addSignalListener("SIGTERM", onTerm);
  console.log(`listening on ${formatAddr(server.addr)}`);

  const control = (async () => {
    for await (const line of lines(Deno.stdin)) {
      if (line === "stats") console.log(snapshot());
    }
  })();

  await server.finished;
  Deno.removeSignalListener("SIGTERM", onTerm);
  console.log(`final ${snapshot()}`);
  // Reading stdin is the one thing left: the parent ends it by closing it.
  await control;
}

if (import.meta.main) await main(JSON.parse(Deno.args[0]));
