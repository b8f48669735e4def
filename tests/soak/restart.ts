/**
 * The "zero-downtime restart" scenario: clients connect continuously to
 * `examples/restart_server.ts` while it is restarted again and again, each
 * new copy taking the listening socket over from the running one.
 *
 * @module
 */

import { assertEquals, assertStringIncludes } from "@std/assert";
import { headerFlagsIn, startExample } from "../_examples.ts";
import { readAll, tempDir, waitFor, writeAll } from "../_helpers.ts";
import type { Figures } from "./scenarios.ts";

/** Sizes of the scenario. */
export interface RestartSize {
  /** How many times a new copy takes over. */
  restarts: number;
  /** Clients connecting continuously, each one connection at a time. */
  clients: number;
  /** Echoes awaited between two restarts, so that each copy serves. */
  echoesBetween: number;
}

/** The full size. */
export const FULL_RESTART: RestartSize = {
  restarts: 10,
  clients: 4,
  echoesBetween: 200,
};

/** The size `deno task test` runs. */
export const REDUCED_RESTART: RestartSize = {
  restarts: 2,
  clients: 2,
  echoesBetween: 20,
};

/** The most connections one client makes: a bound on its loop. */
const MAX_CONNECTIONS_PER_CLIENT = 1_000_000;

/** What the clients saw. */
export interface ClientCounts {
  /** Connections that got their exact echo. */
  ok: number;
  /** Failed connections, by error name. */
  failures: Map<string, number>;
  /** The longest connect-to-echo time, in milliseconds. */
  slowest: number;
}

/**
 * Connects to `path` again and again, one connection at a time, until
 * `signal` aborts; each connection sends a line, half-closes and expects
 * it back.
 */
export async function connectContinuously(
  path: string,
  signal: AbortSignal,
  counts: ClientCounts,
): Promise<void> {
  for (let i = 0; i < MAX_CONNECTIONS_PER_CLIENT && !signal.aborted; i++) {
    const start = performance.now();
    try {
      using conn = await Deno.connect({ transport: "unix", path });
      await writeAll(conn, "hi\n");
      await conn.closeWrite();
      const answer = await readAll(conn);
      if (answer !== "hi\n") throw new Error(`short answer ${answer}`);
      counts.ok++;
      counts.slowest = Math.max(counts.slowest, performance.now() - start);
    } catch (error) {
      const name = error instanceof Error ? error.name : String(error);
      counts.failures.set(name, (counts.failures.get(name) ?? 0) + 1);
    }
  }
}

/** Runs the scenario and returns its figures; throws if an assertion fails. */
export async function restarts(size: RestartSize): Promise<Figures> {
  await using dir = await tempDir("soak_restart_");
  const flags = headerFlagsIn("restart_server.ts", dir.path);
  const path = dir.file("restart.sock");
  const args = ["--path", path, "--control", dir.file("restart.control")];
  let running = await startExample("restart_server.ts", args, { flags });
  const counts: ClientCounts = { ok: 0, failures: new Map(), slowest: 0 };
  const stop = new AbortController();
  const clients = Array.from(
    { length: size.clients },
    () => connectContinuously(path, stop.signal, counts),
  );
  try {
    await waitFor(() => counts.ok >= size.echoesBetween, "the first echoes");
    for (let i = 0; i < size.restarts; i++) {
      const next = await startExample("restart_server.ts", args, { flags });
      // SIGCONT changes nothing for a running process: this waits for the
      // old copy to exit on its own (or kills it after a few seconds).
      const old = await running.stop("SIGCONT");
      running = next;
      assertEquals(old.code, 0, old.stderr);
      assertStringIncludes(old.stdout, "handed over");
      const before = counts.ok;
      await waitFor(
        () => counts.ok >= before + size.echoesBetween,
        `echoes after restart ${i + 1}`,
      );
    }
  } finally {
    stop.abort();
    await Promise.all(clients);
    await running.stop();
  }
  assertEquals(Object.fromEntries(counts.failures), {});
  return {
    "restarts": size.restarts,
    "clients connecting continuously": size.clients,
    "connections echoed": counts.ok,
    "refused, reset or cut connections": 0,
    "slowest connect-to-echo": `${counts.slowest.toFixed(1)} ms`,
  };
}
