import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  importMapFlags,
  runExample,
} from "./_examples.ts";
import {
  closedPort,
  exchange,
  isMissing,
  tempDir,
  waitFor,
  within,
} from "./_helpers.ts";

const root = new URL("../", import.meta.url);
const EXAMPLE = "activated_echo_server.ts";

/** A launcher running the example, its stdout read line by line. */
interface Launched extends AsyncDisposable {
  /** The lines printed so far. */
  lines: string[];
  /** Sends `signal` and returns the exit code and all stderr. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
}

/** Starts `launcher ... deno run FLAGS examples/activated_echo_server.ts ARGS`. */
function launch(
  launcher: string,
  launcherArgs: string[],
  args: string[] = [],
  flags = headerFlags(EXAMPLE),
): Launched {
  const child = new Deno.Command(launcher, {
    args: [
      ...launcherArgs,
      Deno.execPath(),
      "run",
      "--no-prompt",
      ...importMapFlags(),
      ...flags,
      `examples/${EXAMPLE}`,
      ...args,
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const stdout = (async () => {
    let text = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      text += chunk;
      const parts = text.split("\n");
      text = parts.pop()!;
      lines.push(...parts);
    }
  })();
  const stderr = new Response(child.stderr).text();
  let stopped: Promise<{ code: number; stderr: string }> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") =>
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // Already exited.
      }
      const [{ code }, err] = await within(
        Promise.all([child.status, stderr, stdout]),
        "the example to exit",
      );
      return { code, stderr: err };
    })();
  return {
    lines,
    stop,
    [Symbol.asyncDispose]: async () => void await stop("SIGKILL"),
  };
}

/** Connects, retrying while the launcher is not listening yet. */
async function connectSoon(
  options: Deno.ConnectOptions | Deno.UnixConnectOptions,
): Promise<Deno.Conn> {
  for (let attempt = 0;; attempt++) {
    try {
      return await Deno.connect(options as Deno.ConnectOptions);
    } catch (error) {
      if (
        attempt >= 100 ||
        !(error instanceof Deno.errors.ConnectionRefused ||
          error instanceof Deno.errors.NotFound)
      ) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

Deno.test("examples/activated_echo_server.ts header needs only the three variables", () => {
  assertEquals(headerFlags(EXAMPLE), [
    "--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES",
  ]);
});

Deno.test("examples/activated_echo_server.ts echoes on the socket systemd-socket-activate passes, and stops on SIGTERM", async () => {
  if (await isMissing("systemd-socket-activate", "systemd")) return;
  const port = closedPort();
  await using launched = launch("systemd-socket-activate", [
    "-l",
    `127.0.0.1:${port}`,
    "--fdname=echo",
  ]);
  {
    using conn = await connectSoon({ hostname: "127.0.0.1", port });
    assertEquals(
      await exchange(conn, "hello, activated\n"),
      "hello, activated\n",
    );
  }
  await waitFor(() => launched.lines.length > 0, "the listening line");
  assertEquals(launched.lines[0], `listening on 127.0.0.1:${port} (echo)`);
  const { code, stderr } = await launched.stop("SIGTERM");
  assertEquals(code, 0, stderr);
});

Deno.test("examples/activated_echo_server.ts --inetd echoes on the connection systemd-socket-activate --inetd passes", async () => {
  if (await isMissing("systemd-socket-activate", "systemd")) return;
  const port = closedPort();
  await using launched = launch(
    "systemd-socket-activate",
    [
      "-l",
      `127.0.0.1:${port}`,
      "--accept",
      "--inetd",
    ],
    ["--inetd"],
    [],
  );
  for (const text of ["first\n", "second\n"]) {
    using conn = await connectSoon({ hostname: "127.0.0.1", port });
    assertEquals(await exchange(conn, text), text);
  }
  await launched.stop("SIGTERM");
});

Deno.test("examples/activated_echo_server.ts serves TCP and Unix sockets passed by a launcher, by name", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("activation_examples_");
  const path = `${dir.path}/echo.sock`;
  await using launched = launch("python3", [
    new URL("tests/fixtures/listen_fds_launcher.py", root).pathname,
    "--tcp",
    "--unix",
    path,
    "--names",
    "web:local",
    "--",
  ]);
  await waitFor(
    () => launched.lines.length >= 5,
    "the launcher's and the example's lines",
  );
  const port = Number(launched.lines[0]);
  assertEquals(launched.lines.slice(1, 5), [
    path,
    "",
    `listening on 127.0.0.1:${port} (web)`,
    "listening on unnamed (local)",
  ]);
  {
    using tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    assertEquals(await exchange(tcp, "over tcp"), "over tcp");
    using unix = await Deno.connect({ transport: "unix", path });
    assertEquals(await exchange(unix, "over unix"), "over unix");
  }
  const { code, stderr } = await launched.stop("SIGINT");
  assertEquals(code, 0, stderr);
});

Deno.test("examples/activated_echo_server.ts started by hand says how to start it", async () => {
  const { code, stderr } = await runExample(EXAMPLE);
  assertEquals(code, 1);
  assertStringIncludes(stderr, "LISTEN_FDS is not set");
  assertStringIncludes(stderr, "systemd-socket-activate -l 127.0.0.1:PORT");
  const inetd = await runExample(EXAMPLE, ["--inetd"]);
  assertEquals(inetd.code, 1);
  assertStringIncludes(
    inetd.stderr,
    "descriptor 0 (standard input) is not a socket",
  );
});

Deno.test("examples/activated_echo_server.ts fails with the flag it needs", async () => {
  await assertFlagsNeeded(EXAMPLE);
  const { stderr } = await runExample(EXAMPLE, [], { flags: [] });
  assertStringIncludes(
    stderr,
    "--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES",
  );
  assert(!/^\s+at /m.test(stderr), stderr);
});
