// The example harness: runs the scripts in examples/ as a user would, under
// exactly the permissions their header line documents.

import { assert, assertNotEquals, assertStringIncludes } from "@std/assert";

const root = new URL("../", import.meta.url);

/** Long enough for a cold type check of an example; short enough to end a hung test. */
const RUN_TIMEOUT_MS = 30_000;

/** How long a stopped example may take to exit before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

/** The first stdout line of a server example once it is ready. */
const LISTENING = "listening on ";

/** The output of a finished example. */
export interface ExampleResult {
  /** The exit code. */
  code: number;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/** Options for running an example. */
export interface RunExampleOptions {
  /** The `deno run` flags: the header's by default. */
  flags?: string[];
  /** Text written to the example's stdin, which is then closed. */
  stdin?: string | Uint8Array;
}

/** The directory the example headers grant; tests grant a temp directory instead. */
const HEADER_DIR = "/tmp/sockets-net";

/** The path of an example, relative to the project root. */
function examplePath(name: string): string {
  return `examples/${name}`;
}

/**
 * The flags of the example's header line, `// deno run <flags> examples/<name>`.
 * An example run another way as well (an abstract name for a socket file)
 * has a further header line for it, `// deno run <flags> examples/<name> <args>`:
 * given `args`, that line's flags, else the first line's.
 * Throws when the header is missing or names another file.
 */
export function headerFlags(name: string, args: string[] = []): string[] {
  const path = examplePath(name);
  const source = Deno.readTextFileSync(new URL(path, root));
  const headers = source.split("\n")
    .filter((line) => line.startsWith("// deno run "))
    .map((line) => line.slice("// deno run ".length).trim().split(/\s+/));
  assert(headers.length > 0, `${path} has no "// deno run ..." header line`);
  for (const words of headers) {
    assert(
      words.includes(path),
      `a header of ${path} runs ${words.at(-1)}, not ${path}`,
    );
  }
  const wanted = args.join(" ");
  const words =
    headers.find((words) =>
      words.slice(words.indexOf(path) + 1).join(" ") === wanted
    ) ?? headers[0];
  assert(
    words.at(-1) === path || wanted !== "",
    `the first header of ${path} runs it with arguments`,
  );
  return words.slice(0, words.indexOf(path));
}

/**
 * The example's header flags with its directory moved to `dir`: the same
 * flags, scoped the same way, for a socket path under `dir`.
 */
export function headerFlagsIn(name: string, dir: string): string[] {
  return headerFlags(name).map((flag) => flag.replaceAll(HEADER_DIR, dir));
}

/**
 * Tests run offline with the stand-ins of `@std/*`; the examples they start
 * must resolve `@std/cli` the same way: these are the flags that do it.
 */
export function importMapFlags(): string[] {
  const stdCli = import.meta.resolve("@std/cli");
  return stdCli.startsWith("file:")
    ? [`--import-map=${new URL("import_map.offline.json", root).pathname}`]
    : [];
}

function command(
  name: string,
  args: string[],
  flags: string[],
  stdin: boolean,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      ...importMapFlags(),
      ...flags,
      examplePath(name),
      ...args,
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs an example to its end and returns its exit code and output. */
export async function runExample(
  name: string,
  args: string[] = [],
  options: RunExampleOptions = {},
): Promise<ExampleResult> {
  const { flags = headerFlags(name), stdin } = options;
  const child = command(name, args, flags, stdin !== undefined).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  try {
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(
        typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
      ).catch(() => {});
      await writer.close().catch(() => {});
    }
    const { code, stdout, stderr } = await child.output();
    return {
      code,
      stdout: new TextDecoder().decode(stdout),
      stderr: new TextDecoder().decode(stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A server example that has printed its `listening on` line. */
export interface RunningExample extends AsyncDisposable {
  /** What followed `listening on `: `host:port` or a socket path. */
  address: string;
  /** The port of a `host:port` address; NaN for a path. */
  port: number;
  /** The example's process id, to send it a signal. */
  pid: number;
  /** Everything it has written to stdout so far. */
  output(): string;
  /**
   * Sends `signal` (SIGINT, Ctrl-C, by default), waits for the exit, and
   * returns the result. Only the first call sends a signal.
   */
  stop(signal?: Deno.Signal): Promise<ExampleResult>;
}

/**
 * Starts a server example and waits for its `listening on` line. Throws,
 * with the example's stderr, when it exits before that.
 */
export async function startExample(
  name: string,
  args: string[] = [],
  options: Omit<RunExampleOptions, "stdin"> = {},
): Promise<RunningExample> {
  const { flags = headerFlags(name) } = options;
  const child = command(name, args, flags, false).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let ready: string | undefined;
  while (ready === undefined) {
    const { value, done } = await lines.read();
    if (done) break;
    stdout += value;
    const newline = stdout.indexOf("\n");
    if (newline !== -1) ready = stdout.slice(0, newline);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) return stdout;
      stdout += value;
    }
  })();
  const finish = async (): Promise<ExampleResult> => {
    const stopper = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    try {
      const [{ code }, out, err] = await Promise.all([
        child.status,
        rest,
        stderr,
      ]);
      return { code, stdout: out, stderr: err };
    } finally {
      clearTimeout(stopper);
      clearTimeout(killer);
    }
  };
  if (ready === undefined || !ready.startsWith(LISTENING)) {
    child.kill("SIGKILL");
    const result = await finish();
    throw new Error(
      `examples/${name} did not print "${LISTENING}...": exit ${result.code}\n${result.stderr}${result.stdout}`,
    );
  }
  const address = ready.slice(LISTENING.length);
  const port = Number(/:(\d+)$/.exec(address)?.[1] ?? NaN);
  let stopped: Promise<ExampleResult> | undefined;
  const stop = (signal: Deno.Signal = "SIGINT"): Promise<ExampleResult> => {
    if (stopped === undefined) {
      try {
        child.kill(signal);
      } catch {
        // Already exited: finish() reports how.
      }
      stopped = finish();
    }
    return stopped;
  };
  return {
    address,
    port,
    pid: child.pid,
    output: () => stdout,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/**
 * Runs the example once per permission or unstable flag of its header, with
 * that flag left out, and asserts that it fails with a message naming the
 * flag and without a stack trace: the header asks for nothing it does not need.
 */
export async function assertFlagsNeeded(
  name: string,
  args: string[] = [],
  options: RunExampleOptions = {},
): Promise<void> {
  const flags = options.flags ?? headerFlags(name);
  for (const flag of flags) {
    if (!flag.startsWith("--allow-") && !flag.startsWith("--unstable-")) {
      continue;
    }
    const flagName = flag.split("=")[0];
    const result = await runExample(name, args, {
      ...options,
      flags: flags.filter((other) => other !== flag),
    });
    const context = `examples/${name} without ${flag}`;
    assertNotEquals(result.code, 0, `${context} exited 0`);
    assertStringIncludes(result.stderr, flagName, context);
    assert(
      !/^\s+at /m.test(result.stderr),
      `${context} printed a stack trace:\n${result.stderr}`,
    );
  }
}
