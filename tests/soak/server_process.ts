/**
 * Runs `echo_server.ts` as a child process and watches it from outside:
 * its stats over stdin, its open descriptors in `/proc/<pid>/fd` and its CPU
 * time in `/proc/<pid>/stat` (Linux only, as the scenarios are).
 *
 * @module
 */

import type { ServerConfig, ServerStats } from "./echo_server.ts";

const serverScript = new URL("./echo_server.ts", import.meta.url).pathname;

/** A cold start of the server, type check included, takes far less. */
const START_TIMEOUT_MS = 30_000;

/** How long a line from the server may take before the scenario fails. */
const REPLY_TIMEOUT_MS = 10_000;

/**
 * The longest a server may run: past it, it is killed, which ends every
 * client waiting on it, so that a hung scenario fails instead of hanging.
 * The longest full-size scenario needs under a minute.
 */
const MAX_LIFETIME_MS = 300_000;

/** The kernel's USER_HZ, the unit of `/proc/<pid>/stat` times: 100 on every Linux ABI. */
const CLOCK_TICKS_PER_SECOND = 100;

/** How the server process ended. */
export interface ServerExit {
  /** The exit code. */
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
  /** The stats printed after the server stopped, if it got that far. */
  final: ServerStats | undefined;
  /** Everything the server wrote to stderr. */
  stderr: string;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  /** Runs the server under `prlimit --nofile=N:N`. */
  maxFiles?: number;
}

/** A running server process. */
export interface ServerProcess extends AsyncDisposable {
  /** The process id, for `/proc`. */
  readonly pid: number;
  /** `host:port` or the socket path, from its `listening on` line. */
  readonly address: string;
  /** The port of a TCP or UDP server. */
  readonly port: number;
  /** Asks the server what it counted. */
  stats(): Promise<ServerStats>;
  /** How many descriptors the process has open now. */
  descriptors(): Promise<number>;
  /**
   * How many of them are sockets: what a leaked connection holds. The
   * other descriptors come and go on the runtime's own schedule (its cache
   * databases are opened and closed in the background), so only sockets
   * can be compared exactly before and after.
   */
  sockets(): Promise<number>;
  /** User and system CPU time the process has used, in ms. */
  cpuTime(): Promise<number>;
  /** Waits for the next line the server prints, such as `shutting down`. */
  nextLine(): Promise<string>;
  /** Sends SIGTERM (after closing stdin) and waits for the exit. */
  stop(): Promise<ServerExit>;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<ServerExit>;
}

/** Permissions of the server: exactly what its transport needs. */
function permissions(config: ServerConfig): string[] {
  if (config.transport !== "unix") {
    return ["--unstable-net", "--allow-net=127.0.0.1"];
  }
  const path = config.path!;
  const slash = path.lastIndexOf("/");
  const privateDir = `${path.slice(0, slash)}/.${path.slice(slash + 1)}`;
  return [
    `--allow-read=${path},${privateDir}`,
    `--allow-write=${path},${privateDir}`,
    `--allow-net=unix:${path},unix:${privateDir}/s`,
  ];
}

/** `promise`, or an error naming `what` after `ms`. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: nothing within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Counts the open descriptors of process `pid`. */
export async function countDescriptors(pid: number): Promise<number> {
  let count = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) count++;
  return count;
}

/** Counts the open socket descriptors of process `pid`. */
export async function countSockets(pid: number): Promise<number> {
  let count = 0;
  for await (const { name } of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      const target = await Deno.readLink(`/proc/${pid}/fd/${name}`);
      if (target.startsWith("socket:")) count++;
    } catch {
      // Closed since it was listed.
    }
  }
  return count;
}

/** User plus system CPU time of process `pid`, in ms. */
export async function cpuTimeOf(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name, in parentheses, may hold spaces: count from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of proc(5); the state, field 3, is first here.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * 1000 / CLOCK_TICKS_PER_SECOND;
}

/**
 * Starts the server and waits for its `listening on` line. When it exits
 * first, throws a {@linkcode ServerStartError} that tells how.
 */
export async function startServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<ServerProcess> {
  const deno = [Deno.execPath(), "run", ...permissions(config), serverScript];
  const argv = options.maxFiles === undefined
    ? deno
    : ["prlimit", `--nofile=${options.maxFiles}:${options.maxFiles}`, ...deno];
  const child = new Deno.Command(argv[0], {
    args: [...argv.slice(1), JSON.stringify(config)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stdin = child.stdin.getWriter();
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const pending: string[] = [];
  let buffered = "";
  let ended = false;
  const nextLine = async (): Promise<string> => {
    while (pending.length === 0) {
      if (ended) throw new Error("the server closed its stdout");
      const { value, done } = await stdout.read();
      if (done) {
        ended = true;
        continue;
      }
      buffered += value;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      pending.push(...parts);
    }
    return pending.shift()!;
  };

  const watchdog = setTimeout(() => {
    console.error(`killing the server after ${MAX_LIFETIME_MS} ms`);
    child.kill("SIGKILL");
  }, MAX_LIFETIME_MS);
  let exit: Promise<ServerExit> | undefined;
  const finish = (): Promise<ServerExit> =>
    exit ??= (async () => {
      await stdin.close().catch(() => {});
      const status = await child.status;
      clearTimeout(watchdog);
      let final: ServerStats | undefined;
      for (;;) {
        const line = await nextLine().catch(() => undefined);
        if (line === undefined) break;
        if (line.startsWith("final ")) final = JSON.parse(line.slice(6));
      }
      await stdout.cancel().catch(() => {});
      return {
        code: status.code,
        signal: status.signal,
        final,
        stderr: await stderr,
      };
    })();

  const first = await within(
    nextLine().catch(() => undefined),
    START_TIMEOUT_MS,
    "server start",
  ).catch(async (error) => {
    child.kill("SIGKILL");
    await finish();
    throw error;
  });
  if (first === undefined || !first.startsWith("listening on ")) {
    const result = await finish();
    throw new ServerStartError(result);
  }
  const address = first.slice("listening on ".length);
  const pid = child.pid;
  const signal = (name: Deno.Signal): void => {
    try {
      child.kill(name);
    } catch {
      // Already exited: finish() says how.
    }
  };
  return {
    pid,
    address,
    port: Number(/:(\d+)$/.exec(address)?.[1] ?? NaN),
    async stats() {
      await stdin.write(new TextEncoder().encode("stats\n"));
      return JSON.parse(
        await within(nextLine(), REPLY_TIMEOUT_MS, "server stats"),
      );
    },
    descriptors: () => countDescriptors(pid),
    sockets: () => countSockets(pid),
    cpuTime: () => cpuTimeOf(pid),
    nextLine: () => within(nextLine(), REPLY_TIMEOUT_MS, "server output"),
    async stop() {
      await stdin.close().catch(() => {});
      signal("SIGTERM");
      return await finish();
    },
    async kill() {
      signal("SIGKILL");
      return await finish();
    },
    async [Symbol.asyncDispose]() {
      signal("SIGKILL");
      await finish();
    },
  };
}

/** A server that exited before it listened; `exit` says how. */
export class ServerStartError extends Error {
  /** How the server exited. */
  readonly exit: ServerExit;

  /**
   * Describes the failed start.
   *
   * @param exit How the server exited.
   */
  constructor(exit: ServerExit) {
    super(
      `the server exited with code ${exit.code} before listening: ${exit.stderr}`,
    );
    this.name = "ServerStartError";
    this.exit = exit;
  }
}
