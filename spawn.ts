/**
 * Process per connection: {@linkcode spawnHandler} runs a command for every
 * connection with its standard input and output joined to the connection,
 * the way inetd and `tcpserver` serve a program. It is the fork-and-exec
 * form of the classic concurrent server, as a handler for the stream-server
 * engine (`serve`, `serveTcp`, `serveUnix`), so every engine option works:
 * `maxConnections: 10` is `tcpserver -c 10`, and `idleTimeout` stops a
 * command whose client went quiet.
 *
 * The command learns who connected from its environment, with the variable
 * names of the UCSPI tools (ucspi-tcp, s6-networking, ucspi-unix):
 *
 * | variable | value |
 * |---|---|
 * | `PROTO` | `TCP` or `UNIX` |
 * | `TCPREMOTEIP`, `TCPREMOTEPORT` | the client's address (IPv4 or IPv6) |
 * | `TCPLOCALIP`, `TCPLOCALPORT` | the server's address for this connection |
 * | `UNIXLOCALPATH` | the server's socket path |
 *
 * ucspi-unix also passes the peer's process, user and group ids
 * (`UNIXREMOTEPID`, `UNIXREMOTEEUID`, `UNIXREMOTEEGID`), from `SO_PEERCRED`,
 * which Deno does not expose: they are set when the option
 * `peerCredentials` is given `peerCredentials` from `@sockets/net/fd` (which
 * needs `--allow-ffi`), on a server that listens with `listenUnix` from
 * there.
 *
 * As `tcpserver` does, every variable of both families (the list of
 * ucspi-tcp's `tcp-environ(5)`, with `TCPINTERFACE` of its IPv6 patch, and of
 * ucspi-unix's `PROTOCOL`: `TCPREMOTEHOST`, `TCPREMOTEINFO`, `UNIXREMOTEPID`...)
 * is removed from the environment the command inherits before the
 * connection's own are set: a server started by another UCSPI server, or
 * from a shell that has them, never hands a command a stale client name or a
 * `TCPREMOTEIP` next to `PROTO=UNIX`.
 *
 * @example A Unix socket server that tells each client where it connected
 * ```ts
 * import { spawnHandler } from "@sockets/net/spawn";
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnix(
 *   { path: `${dir}/where.sock` },
 *   spawnHandler(["sh", "-c", 'echo "$PROTO $UNIXLOCALPATH"']),
 * );
 *
 * using conn = await connectUnix(server.addr.path);
 * const text = await new Response(conn.readable).text();
 * assertEquals(text, `UNIX ${dir}/where.sock\n`);
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import { copy, lines, type Reader, type Writer } from "./io.ts";
import { explainSpawn } from "./_errors.ts";
import { assertKnownOptions, assertOptions, show } from "./_validate.ts";
import {
  assertInheritEnv,
  assertNotConnectionVariable,
  connectionEnv,
  inheritedEnv,
  requireEnvPermission,
} from "./_spawn_env.ts";
import type { ConnectionContext, ConnectionHandler } from "./server.ts";

export type { ConnectionContext, ConnectionHandler } from "./server.ts";

/**
 * Options of {@linkcode spawnHandler}.
 *
 * @example A command with a fixed environment of its own
 * ```ts
 * import { spawnHandler } from "@sockets/net/spawn";
 * import { connectUnix, serveUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await using server = await serveUnix(
 *   { path: `${dir}/greet.sock` },
 *   spawnHandler(["sh", "-c", 'echo "$GREETING $PROTO"'], {
 *     env: { GREETING: "hello" },
 *     inheritEnv: ["PATH"],
 *     cwd: dir,
 *     stderr: "null",
 *   }),
 * );
 * using conn = await connectUnix(server.addr.path);
 * assertEquals(await new Response(conn.readable).text(), "hello UNIX\n");
 * ```
 */
export interface SpawnHandlerOptions {
  /**
   * Variables added to the command's environment. The connection's own
   * variables (`PROTO`, `TCPREMOTEIP`...) take precedence, so a fixed value
   * here can never misname the client.
   *
   * @default {undefined}
   */
  env?: Record<string, string>;
  /**
   * Start the command with only `env` and the connection's variables,
   * instead of the server's environment plus those: a command then learns
   * none of the server's secrets. The same as `inheritEnv: []`.
   *
   * @default {false}
   */
  clearEnv?: boolean;
  /**
   * The names of the server's variables the command inherits, such as
   * `["PATH", "LANG"]`: the rest of the server's environment (its secrets
   * among them) stays behind. A name that is not set is skipped. Reading
   * them needs `--allow-env=PATH,LANG`, checked when the handler is made;
   * without this option the whole environment is inherited, and reading it
   * needs `--allow-env`.
   *
   * @default {undefined}
   */
  inheritEnv?: readonly string[];
  /**
   * The command's working directory.
   *
   * @default {the server's working directory}
   */
  cwd?: string;
  /**
   * Where the command's standard error goes: `"inherit"` shares the
   * server's (as `tcpserver` does), `"null"` discards it, and a function is
   * called with each line and the connection, to log it with the client's
   * address. Lines longer than 64 KiB end the calls (the rest is read and
   * discarded, so the command never blocks on it), and the handler then
   * rejects with the error.
   *
   * @default {"inherit"}
   */
  stderr?: "inherit" | "null" | ((line: string, conn: Deno.Conn) => void);
  /**
   * Tells a Unix connection's peer (`SO_PEERCRED`), to set
   * `UNIXREMOTEPID`, `UNIXREMOTEEUID` and `UNIXREMOTEEGID` as `unixserver`
   * does: give `peerCredentials` from `@sockets/net/fd`. A function that
   * throws fails the connection's handler.
   *
   * @default {undefined}
   */
  peerCredentials?: (conn: Deno.Conn) => PeerIds;
}

/**
 * A peer's process, user and group ids, as `peerCredentials` from `@sockets/net/fd` gives them.
 *
 * @example Tell the command who connected, as unixserver does
 * ```ts
 * import { listenUnix, peerCredentials } from "@sockets/net/fd";
 * import { serve } from "@sockets/net/server";
 * import { type PeerIds, spawnHandler } from "@sockets/net/spawn";
 * import { connectUnix } from "@sockets/net/unix";
 * import { assertEquals } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * const peer = (conn: Deno.Conn): PeerIds => peerCredentials(conn);
 * await using _server = serve(
 *   listenUnix(`${dir}/who.sock`),
 *   spawnHandler(["sh", "-c", 'echo "$UNIXREMOTEPID"'], { peerCredentials: peer }),
 * );
 * using conn = await connectUnix(`${dir}/who.sock`);
 * assertEquals(await new Response(conn.readable).text(), `${Deno.pid}\n`);
 * ```
 */
export interface PeerIds {
  /** The peer's process id. */
  pid: number;
  /** The peer's effective user id. */
  uid: number;
  /** The peer's effective group id. */
  gid: number;
}

/**
 * How long a command has after `SIGTERM` before it gets `SIGKILL`: the
 * grace period of `docker stop`, long enough for a command to flush and
 * remove its temporary files.
 */
const KILL_GRACE_MS = 10_000;

/** The option names of {@linkcode spawnHandler}. */
const SPAWN_HANDLER_OPTION_NAMES: readonly string[] = [
  "env",
  "clearEnv",
  "inheritEnv",
  "cwd",
  "stderr",
  "peerCredentials",
];

/** The standard error choices that are not a function. */
const STDERR_MODES = ["inherit", "null"];

/**
 * The rejection of a {@linkcode spawnHandler} handler whose command failed
 * on its own: it exited with a non-zero code, or a signal it was not sent
 * by the handler killed it. The server reports it to `onError` and goes on
 * serving. A command that the handler stopped, because the connection
 * dropped or the server closed it, is not reported this way.
 *
 * @example Log the exit code of failed commands
 * ```ts
 * import { ExitError, spawnHandler } from "@sockets/net/spawn";
 * import { serveTcp } from "@sockets/net/tcp";
 * import { assertEquals, assertInstanceOf } from "@std/assert";
 *
 * const { promise: reported, resolve } = Promise.withResolvers<unknown>();
 * await using server = serveTcp(
 *   { hostname: "127.0.0.1", port: 0, onError: resolve },
 *   spawnHandler(["sh", "-c", "exit 3"]),
 * );
 * using client = await Deno.connect({ port: server.addr.port });
 * await new Response(client.readable).arrayBuffer();
 *
 * const error = await reported;
 * assertInstanceOf(error, ExitError);
 * assertEquals(error.status.code, 3);
 * assertEquals(error.message, "sh exited with code 3");
 * ```
 */
export class ExitError extends Error {
  /** The command that failed: the program and its arguments. */
  readonly command: readonly string[];
  /** How it ended: `code` is its exit code, or 128 + the signal's number if `signal` killed it. */
  readonly status: Deno.CommandStatus;

  /**
   * Describes a command that ended with `status`.
   *
   * @param command The program and its arguments.
   * @param status How the command ended.
   */
  constructor(command: readonly string[], status: Deno.CommandStatus) {
    super(
      status.signal === null
        ? `${command[0]} exited with code ${status.code}`
        : `${command[0]} was killed by ${status.signal}`,
    );
    this.name = "ExitError";
    this.command = command;
    this.status = status;
  }
}

/** The validated settings of a handler. */
interface Spec {
  command: readonly string[];
  env: Record<string, string>;
  /** The server's variables passed on; `undefined`: all of them. */
  inheritEnv: readonly string[] | undefined;
  cwd: string | undefined;
  stderr: "inherit" | "null" | ((line: string, conn: Deno.Conn) => void);
  peerCredentials: ((conn: Deno.Conn) => PeerIds) | undefined;
}

function assertCommand(command: unknown): asserts command is string[] {
  if (
    !Array.isArray(command) || command.length === 0 ||
    !command.every((word) => typeof word === "string") || command[0] === ""
  ) {
    throw new TypeError(
      `command must be a non-empty array of strings, the program and its arguments, such as ["cat"] or ["sh", "-c", "date"], got ${
        describeCommand(command)
      }`,
    );
  }
}

function describeCommand(command: unknown): string {
  if (!Array.isArray(command)) return show(command);
  if (command.length === 0) return "an empty array";
  const bad = command.findIndex((word) => typeof word !== "string");
  if (bad !== -1) return `${show(command[bad])} at index ${bad}`;
  return "an empty program name";
}

function assertEnv(env: unknown): asserts env is Record<string, string> {
  if (env === undefined) return;
  if (env === null || typeof env !== "object" || Array.isArray(env)) {
    throw new TypeError(
      `options.env must be an object of strings such as { LANG: "C" }, got ${
        show(env)
      }`,
    );
  }
  for (const [name, value] of Object.entries(env)) {
    assertNotConnectionVariable(name, `options.env.${name}`);
    if (typeof value !== "string") {
      throw new TypeError(
        `options.env.${name} must be a string, got ${
          show(value)
        }; convert it with String()`,
      );
    }
  }
}

/**
 * Throws `NotCapable` naming the flag when running `program` is not granted:
 * at startup, not at the first client. The permission is queried, never
 * requested: a prompt would stall the server.
 */
function requireRunPermission(program: string): void {
  let state: Deno.PermissionState;
  try {
    state = Deno.permissions.querySync({ name: "run", command: program }).state;
  } catch {
    // A name Deno cannot query: let the spawn itself decide, and explain then.
    return;
  }
  if (state !== "granted") {
    throw new Deno.errors.NotCapable(
      `spawn ${program}: permission denied; run again with --allow-run=${program}`,
    );
  }
}

/** A {@linkcode Reader} over a child's output pipe, which can be stopped. */
interface PipeReader extends Reader {
  /** Set when a read failed: the pipe's fault, not the connection's. */
  failed: boolean;
  /** Ends the pipe: a waiting read resolves to the end of the stream. */
  cancel(): void;
}

/**
 * Reads a child's pipe into the caller's buffer. The pipe's BYOB reader
 * transfers the buffer it fills, so it fills a scratch buffer of its own
 * that comes back with every read, and the bytes are copied out: `copy`
 * keeps reusing one buffer, and nothing is allocated per read.
 */
function pipeReader(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
): PipeReader {
  const reader = stream.getReader({ mode: "byob" });
  let scratch = new ArrayBuffer(0);
  let ended = false;
  const pipe: PipeReader = {
    failed: false,
    async read(p) {
      if (ended) return null;
      if (scratch.byteLength < p.length) scratch = new ArrayBuffer(p.length);
      let result: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
      try {
        result = await reader.read(new Uint8Array(scratch, 0, p.length));
      } catch (error) {
        pipe.failed = true;
        throw error;
      }
      const { value, done } = result;
      if (value !== undefined) scratch = value.buffer;
      if (done) {
        ended = true;
        return null;
      }
      p.set(value);
      return value.length;
    },
    cancel() {
      if (ended) return;
      ended = true;
      reader.cancel().catch(() => {});
    },
  };
  return pipe;
}

/** A {@linkcode Writer} into a child's input pipe. */
interface PipeWriter extends Writer {
  /** Set when a write failed: the child stopped reading (or exited). */
  failed: boolean;
  /** Closes the pipe, so the child reads the end of its input; never throws. */
  close(): Promise<void>;
}

/**
 * Writes into a child's pipe. A write resolves once the pipe took all of
 * it, so the caller may reuse the buffer as soon as it does.
 */
function pipeWriter(stream: WritableStream<Uint8Array>): PipeWriter {
  const writer = stream.getWriter();
  const pipe: PipeWriter = {
    failed: false,
    async write(p) {
      try {
        await writer.write(p);
      } catch (error) {
        pipe.failed = true;
        throw error;
      }
      return p.length;
    },
    async close() {
      // A child that exited or closed its input already has the end it needs.
      await writer.close().catch(() => {});
    },
  };
  return pipe;
}

/** A writer that takes everything: where unwanted output is drained to. */
const discard: Writer = { write: (p) => Promise.resolve(p.length) };

/**
 * Calls `onLine` with every line of the child's standard error, and
 * resolves with the first error (a line too long, or `onLine` throwing)
 * once the pipe has ended.
 */
async function readStderr(
  pipe: PipeReader,
  conn: Deno.Conn,
  onLine: (line: string, conn: Deno.Conn) => void,
): Promise<unknown> {
  let failure: unknown;
  try {
    for await (const line of lines(pipe)) onLine(line, conn);
  } catch (error) {
    failure = error;
  }
  // Whatever stopped the lines, the child must never block on a full pipe.
  await copy(pipe, discard).catch(() => {});
  return failure;
}

/** Runs the command for one connection; see {@linkcode spawnHandler}. */
async function serveConnection(
  conn: Deno.Conn,
  { signal: ended }: ConnectionContext,
  spec: Spec,
): Promise<void> {
  const [program, ...args] = spec.command;
  const stderrMode = typeof spec.stderr === "function" ? "piped" : spec.stderr;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      cwd: spec.cwd,
      // Deno.Command can add variables but not remove one: the command gets
      // exactly the environment built here.
      clearEnv: true,
      env: {
        ...inheritedEnv(spec.inheritEnv),
        ...spec.env,
        ...connectionEnv(conn, spec.peerCredentials),
      },
      stdin: "piped",
      stdout: "piped",
      stderr: stderrMode,
    }).spawn();
  } catch (error) {
    throw explainSpawn(error, spec.command[0], spec.cwd);
  }

  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  const input = pipeWriter(child.stdin);
  const output = pipeReader(child.stdout);
  const errors = stderrMode === "piped" ? pipeReader(child.stderr) : undefined;

  /** The first error of the connection itself: the client is gone. */
  let connError: unknown;
  /** Set once the connection is closed, by the engine or at the end here. */
  let connClosed = false;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) await terminate(child, status);
      // Only the command was signalled: a process it started may still hold
      // its output open, and nobody is left to read it.
      output.cancel();
      errors?.cancel();
    })();
    return stopping;
  };
  // The engine ends a connection (idle timeout, forced shutdown) by closing
  // it: a waiting read notices, but once the client has half-closed nothing
  // waits on the connection, and a silent command would outlive it.
  const onEnded = (): void => {
    if (connClosed) return;
    connClosed = true;
    stop();
  };
  ended.addEventListener("abort", onEnded, { once: true });
  const connFailed = (error: unknown): void => {
    if (connClosed) return;
    connError ??= error;
    stop();
  };

  let upstreamDone = false;
  const upstream = (async () => {
    try {
      await copy(conn, input);
    } catch (error) {
      // A failed write to the pipe means the command stopped reading: the
      // client's further bytes have no reader, which is not a failure.
      if (!input.failed) connFailed(error);
    }
    await input.close();
    upstreamDone = true;
  })();
  const downstream = (async () => {
    try {
      await copy(output, conn);
      if (!stopping) await conn.closeWrite();
    } catch (error) {
      if (!output.failed) connFailed(error);
    }
  })();
  const stderrFailure =
    errors === undefined || typeof spec.stderr !== "function"
      ? undefined
      : readStderr(errors, conn, spec.stderr);

  try {
    const { success, code, signal } = await status;
    await downstream;
    if (upstreamDone) {
      await upstream;
    } else {
      // The command is done and its output sent (and the sending side
      // closed): the handler settles without waiting for a client that may
      // never stop sending. The engine closes the connection, lingering
      // first so that the client's unread bytes cannot reset it and cut the
      // output; that close also ends the read still waiting here, and is no
      // reason to stop anything.
      connClosed = true;
    }
    await stopping;
    const stderrError = await stderrFailure;
    if (connError !== undefined) throw connError;
    if (stopping === undefined && !success) {
      throw new ExitError(spec.command, { success, code, signal });
    }
    if (stderrError !== undefined) throw stderrError;
  } finally {
    ended.removeEventListener("abort", onEnded);
  }
}

/**
 * Stops a child: `SIGTERM`, then `SIGKILL` if it is still running after
 * {@linkcode KILL_GRACE_MS}. Resolves once it is reaped.
 */
async function terminate(
  child: Deno.ChildProcess,
  status: Promise<Deno.CommandStatus>,
): Promise<void> {
  if (!signal(child, "SIGTERM")) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const graceOver = new Promise<"kill">((resolve) => {
    timer = setTimeout(() => resolve("kill"), KILL_GRACE_MS);
  });
  const outcome = await Promise.race([status, graceOver]);
  clearTimeout(timer);
  if (outcome === "kill") signal(child, "SIGKILL");
  await status;
}

/** Sends `name` to the child; false if it has already exited. */
function signal(child: Deno.ChildProcess, name: Deno.Signal): boolean {
  try {
    child.kill(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns a connection handler that runs `command` for each connection,
 * with the command's standard input and output joined to the connection,
 * as inetd and `tcpserver` do. Serve it with `serve`, `serveTcp` or
 * `serveUnix`.
 *
 * The command gets the connection's address in its environment (`PROTO`,
 * `TCPREMOTEIP`, `TCPREMOTEPORT`, `TCPLOCALIP`, `TCPLOCALPORT`, or
 * `UNIXLOCALPATH`; see the module doc), over `options.env`, over what it
 * inherits from the server: by default the server's whole environment
 * without any connection variable of ucspi-tcp or ucspi-unix (as `tcpserver`
 * removes them), which needs `--allow-env` to read; with `inheritEnv`, only
 * the variables it names (`--allow-env=PATH,LANG` for
 * `inheritEnv: ["PATH", "LANG"]`), which keeps the server's secrets from
 * every command; with `clearEnv`, nothing. `Deno.Command` cannot remove a
 * variable from the environment a child inherits (setting it to `""` is
 * not removing it), so the command always gets an environment built here,
 * read from the server's at each connection.
 *
 * Each connection runs a process: a server running this handler should set
 * `maxConnections`, as `tcpserver -c` does (its default is 40), so that a
 * crowd of clients waits in the listen backlog instead of starting a
 * process each. The handler cannot set it: only the engine can pause
 * accepting, and a limit inside the handler would hold the waiting clients
 * accepted, with their descriptors, instead of in the backlog.
 *
 * Both directions carry half-closes: when the client closes its sending
 * side, the command's input ends; when the command's output ends, the
 * connection's sending side is closed (`closeWrite`), so the client reads
 * the end of the stream. When the command exits and its output has been
 * sent, the handler settles and the server closes the connection, lingering
 * as it does after any handler, so that input the command never read cannot
 * reset the connection and cut its output (a process it started in the
 * background that keeps the output open keeps the connection open too, as
 * under inetd). The bytes are moved with `copy` from `@sockets/net/io`,
 * through buffers that stay small while the connection idles.
 *
 * The command is stopped (`SIGTERM`, then `SIGKILL` 10 s later) when the
 * connection fails (a reset, or a write to a client that has gone) or when
 * the server closes it (`idleTimeout`, or a shutdown past its
 * `shutdownTimeout`). A client that closes without a reset looks the same
 * as a half-close: the command's input ends, and the command is stopped if
 * it then writes. Only the command itself is signalled, so a shell script
 * should `exec` its last program. The handler settles only once the command
 * has been reaped and both directions are done.
 *
 * The handler rejects, and the server reports to `onError`, when the
 * command cannot be started (a missing program names it and the fix), when
 * the connection fails (with the connection's error), and when the command
 * fails on its own (an {@linkcode ExitError} with its exit status). None of
 * them stops the server.
 *
 * Needs `--allow-run=PROGRAM`, and `--allow-env` (or `--allow-env=NAMES`
 * for `inheritEnv`, nothing with `clearEnv`), checked here rather than at
 * the first client.
 *
 * @param command The program and its arguments, such as `["cat"]`; a
 * program without a `/` is looked up on the `PATH`.
 * @param options The command's environment, working directory and standard error.
 * @returns A handler for `serve`, `serveTcp` or `serveUnix`.
 * @throws {TypeError} If `command` is not a non-empty array of strings, or
 * an option has the wrong type.
 * @throws {Deno.errors.NotCapable} If running the program, or reading the
 * environment it inherits, is not permitted; the message names the flag,
 * such as `--allow-run=cat` or `--allow-env=PATH`.
 *
 * @example An echo server made of `cat`, with half-close both ways
 * ```ts
 * import { spawnHandler } from "@sockets/net/spawn";
 * import { serveTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp(
 *   { hostname: "127.0.0.1", port: 0 },
 *   spawnHandler(["cat"]),
 * );
 *
 * using client = await Deno.connect({ port: server.addr.port });
 * await client.write(new TextEncoder().encode("hello\n"));
 * await client.closeWrite(); // cat reads the end of its input and exits
 * assertEquals(await new Response(client.readable).text(), "hello\n");
 * ```
 *
 * @example The client's address in the environment, as ucspi-tcp sets it
 * ```ts
 * import { spawnHandler } from "@sockets/net/spawn";
 * import { serveTcp } from "@sockets/net/tcp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp(
 *   { hostname: "127.0.0.1", port: 0, maxConnections: 10 }, // tcpserver -c 10
 *   spawnHandler(["sh", "-c", 'echo "$GREETING $TCPREMOTEIP"'], {
 *     env: { GREETING: "hello" },
 *     inheritEnv: ["PATH"], // none of the server's secrets
 *     stderr: "null",
 *   }),
 * );
 *
 * using client = await Deno.connect({ port: server.addr.port });
 * assertEquals(await new Response(client.readable).text(), "hello 127.0.0.1\n");
 * ```
 */
export function spawnHandler(
  command: readonly string[],
  options: SpawnHandlerOptions = {},
): ConnectionHandler<Deno.Conn> {
  assertCommand(command);
  assertOptions(options);
  assertKnownOptions(options, SPAWN_HANDLER_OPTION_NAMES);
  const {
    env = {},
    clearEnv = false,
    inheritEnv,
    cwd,
    stderr = "inherit",
    peerCredentials,
  } = options;
  assertEnv(env);
  if (typeof clearEnv !== "boolean") {
    throw new TypeError(
      `options.clearEnv must be true or false, got ${show(clearEnv)}`,
    );
  }
  assertInheritEnv(inheritEnv);
  if (clearEnv && inheritEnv !== undefined) {
    throw new TypeError(
      `options.clearEnv and options.inheritEnv both say what the command inherits; give only inheritEnv (clearEnv: true is inheritEnv: [])`,
    );
  }
  if (cwd !== undefined && (typeof cwd !== "string" || cwd === "")) {
    throw new TypeError(
      `options.cwd must be a directory path such as "/srv/app", got ${
        show(cwd)
      }`,
    );
  }
  if (typeof stderr !== "function" && !STDERR_MODES.includes(stderr)) {
    throw new TypeError(
      `options.stderr must be "inherit", "null" or a function (line, conn) => void, got ${
        show(stderr)
      }`,
    );
  }
  if (peerCredentials !== undefined && typeof peerCredentials !== "function") {
    throw new TypeError(
      `options.peerCredentials must be a function such as peerCredentials from @sockets/net/fd, got ${
        show(peerCredentials)
      }`,
    );
  }
  const spec: Spec = {
    command: Object.freeze([...command]),
    env: { ...env },
    inheritEnv: clearEnv ? [] : inheritEnv && Object.freeze([...inheritEnv]),
    cwd,
    stderr,
    peerCredentials,
  };
  requireRunPermission(spec.command[0]);
  requireEnvPermission(spec.command[0], spec.inheritEnv);
  return (conn, context) => serveConnection(conn, context, spec);
}
