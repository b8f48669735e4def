/**
 * The process-per-connection scenario: a crowd of clients against
 * `examples/tcp_exec_server.ts` with its default limit, counting the
 * commands alive at once from `/proc`.
 *
 * @module
 */

import { assert, assertEquals } from "@std/assert";
import { headerFlags, startExample } from "../_examples.ts";
import type { Figures } from "./scenarios.ts";

/** The size of the scenario. */
export interface SpawnLimitSize {
  /** Clients that connect at once. */
  clients: number;
  /** Milliseconds each command runs before it answers. */
  hold: number;
}

/** The full size: the 200 clients of the report that started 200 processes. */
export const FULL_SPAWN_LIMIT: SpawnLimitSize = { clients: 200, hold: 1000 };

/** The size run by `deno task test`: more clients than the limit, briefly. */
export const REDUCED_SPAWN_LIMIT: SpawnLimitSize = { clients: 50, hold: 300 };

/** The example's default limit: `tcpserver -c`'s default. */
const EXAMPLE_LIMIT = 40;

/** Milliseconds between two counts of the commands alive. */
const SAMPLE_INTERVAL_MS = 5;

/**
 * How many `sh` processes run with `marker` among their arguments, not
 * counting those whose parent is one of them too: a shell that forks a
 * program carries the marker in the child until it runs the program. (The
 * server has the marker among its own arguments, and is not `sh`.)
 */
async function countCommands(marker: string): Promise<number> {
  const shells = new Map<string, string>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`))
        .split("\0");
      if (argv[0].split("/").pop() !== "sh" || !argv.includes(marker)) {
        continue;
      }
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      // pid (comm) state ppid ...: comm may hold spaces, so split after it.
      shells.set(
        entry.name,
        stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1],
      );
    } catch {
      // The process ended while it was read.
    }
  }
  return [...shells.values()].filter((parent) => !shells.has(parent)).length;
}

/**
 * `size.clients` clients connect at once to the exec example run with no
 * `--max-connections` flag; each command (`sh`, named by a marker of this
 * run) waits `size.hold` ms and answers. Asserted: every client gets its
 * answer, and no more than the example's default limit of commands is ever
 * alive at once.
 */
export async function spawnLimit(size: SpawnLimitSize): Promise<Figures> {
  const marker = `spawn-limit-${crypto.randomUUID()}`;
  const flags = headerFlags("tcp_exec_server.ts").map((flag) =>
    flag.startsWith("--allow-run=") ? "--allow-run=sh" : flag
  );
  await using server = await startExample("tcp_exec_server.ts", [
    "--port",
    "0",
    "--",
    "sh",
    "-c",
    `sleep ${size.hold / 1000}; echo ok`,
    marker,
  ], { flags });

  let peak = 0;
  let samples = 0;
  let running = true;
  const sampling = (async () => {
    while (running) {
      peak = Math.max(peak, await countCommands(marker));
      samples++;
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
    }
  })();
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: size.clients }, async () => {
      using conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      return await new Response(conn.readable).text();
    }),
  );
  const elapsed = performance.now() - started;
  running = false;
  await sampling;

  const served = answers.filter((answer) => answer === "ok\n").length;
  assertEquals(served, size.clients, "every client gets its answer");
  assert(
    peak <= EXAMPLE_LIMIT,
    `${peak} commands alive at once, over the limit of ${EXAMPLE_LIMIT}`,
  );
  assert(peak > 0, "no command was ever seen running");
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  return {
    "clients at once": size.clients,
    "clients served": served,
    "most commands alive at once": peak,
    "the example's limit (tcpserver -c default)": EXAMPLE_LIMIT,
    "counts of /proc taken": samples,
    "time to serve every client": `${(elapsed / 1000).toFixed(2)} s`,
    "floor (clients / limit × hold)": `${
      (Math.ceil(size.clients / EXAMPLE_LIMIT) * size.hold / 1000).toFixed(2)
    } s`,
  };
}
