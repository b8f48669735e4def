// examples/netcat.ts against the netcat and socat that no one here wrote.
// Standard output carries only the peer's bytes, so a listening netcat is
// started with --verbose and is ready when stderr says "listening on".

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  importMapFlags,
  runExample,
} from "./_examples.ts";
import { closedPort, isMissing, tempDir } from "./_helpers.ts";

const root = new URL("../", import.meta.url);
const ncMissing = await isMissing("nc", "netcat-openbsd");
const socatMissing = await isMissing("socat");

/** Long enough for a cold type check of the example; a hung process is then killed. */
const RUN_TIMEOUT_MS = 30_000;

/** A finished process. */
interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A process that has said it is ready. */
interface Running extends AsyncDisposable {
  /** The whole of stderr up to the ready line. */
  ready: string;
  /** The port in the ready line, if any. */
  port: number;
  /** Waits for the exit and returns the output. */
  result(): Promise<Result>;
  /** Sends a signal, unless the process has exited. */
  kill(signal: Deno.Signal): void;
}

/** Starts `command` and waits until its stderr matches `ready`. */
async function start(
  command: string,
  args: string[],
  options: { ready: RegExp; stdin?: string; cwd?: URL },
): Promise<Running> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  const writer = child.stdin.getWriter();
  if (options.stdin !== undefined) {
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
  }
  await writer.close().catch(() => {});
  const stdout = new Response(child.stdout).text();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  while (!options.ready.test(stderr)) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += value;
  }
  const ready = stderr;
  const rest = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return stderr;
      stderr += value;
    }
  })();
  let exited = false;
  let finished: Promise<Result> | undefined;
  const result = () =>
    finished ??= (async () => {
      try {
        const [{ code }, out, err] = await Promise.all([
          child.status,
          stdout,
          rest,
        ]);
        exited = true;
        return { code, stdout: out, stderr: err };
      } finally {
        clearTimeout(killer);
      }
    })();
  const kill = (signal: Deno.Signal) => {
    if (exited) return;
    try {
      child.kill(signal);
    } catch {
      // It has just exited.
    }
  };
  if (!options.ready.test(ready)) {
    const { code, stderr } = await result();
    throw new Error(
      `${command} exited ${code} before it was ready:\n${stderr}`,
    );
  }
  return {
    ready,
    port: Number(/(\d+)\s*$/m.exec(ready.match(options.ready)![0])?.[1]),
    result,
    kill,
    async [Symbol.asyncDispose]() {
      kill("SIGKILL");
      await result();
    },
  };
}

/** Starts a listening netcat (with --verbose) under `flags`. */
function startNetcat(
  args: string[],
  options: { flags?: string[]; stdin?: string } = {},
): Promise<Running> {
  const { flags = headerFlags("netcat.ts"), stdin } = options;
  return start(Deno.execPath(), [
    "run",
    "--no-prompt",
    ...importMapFlags(),
    ...flags,
    "examples/netcat.ts",
    "--verbose",
    ...args,
  ], { ready: /netcat: listening on \S+/, stdin, cwd: root });
}

/** Runs `command` to its end, with `stdin`. */
async function run(
  command: string,
  args: string[],
  stdin = "",
): Promise<Result> {
  const process = await start(command, args, { ready: /^/, stdin });
  return await process.result();
}

/** The least flags for a Unix socket at `dir/name`, as a server or a client. */
function unixFlags(dir: string, name: string, listen: boolean): string[] {
  const path = `${dir}/${name}`;
  return listen
    ? [
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      `--allow-net=unix:${path},unix:${dir}/.${name}/s`,
    ]
    : [
      `--allow-read=${path}`,
      `--allow-write=${path}`,
      `--allow-net=unix:${path}`,
    ];
}

Deno.test({
  name:
    "examples/netcat.ts --listen talks to an nc client, half-closing both ways",
  ignore: ncMissing,
  async fn() {
    await using netcat = await startNetcat(["--listen", "127.0.0.1", "0"], {
      stdin: "from netcat\n",
    });
    // -N: nc closes its sending side at the end of its input, as we do.
    const nc = await run(
      "nc",
      ["-N", "127.0.0.1", String(netcat.port)],
      "from nc\n",
    );
    assertEquals(nc.code, 0, nc.stderr);
    assertEquals(nc.stdout, "from netcat\n");
    const { code, stdout, stderr } = await netcat.result();
    assertEquals(code, 0, stderr);
    assertEquals(stdout, "from nc\n");
    assertStringIncludes(stderr, "netcat: connection from 127.0.0.1:");
  },
});

Deno.test({
  name: "examples/netcat.ts connects to nc -l, half-closing both ways",
  ignore: ncMissing,
  async fn() {
    const port = closedPort();
    await using nc = await start(
      "nc",
      ["-N", "-l", "-v", "127.0.0.1", String(port)],
      { ready: /Listening on/, stdin: "from nc\n" },
    );
    const netcat = await runExample("netcat.ts", ["127.0.0.1", String(port)], {
      stdin: "from netcat\n",
    });
    assertEquals(netcat.code, 0, netcat.stderr);
    assertEquals(netcat.stdout, "from nc\n");
    const { code, stdout } = await nc.result();
    assertEquals(code, 0);
    assertEquals(stdout, "from netcat\n");
  },
});

Deno.test({
  name: "examples/netcat.ts --udp sends to socat and prints the answer",
  ignore: socatMissing,
  async fn() {
    const port = closedPort("udp");
    // One datagram in, cat's answer out to the sender.
    await using socat = await start("socat", [
      "-d",
      "-d",
      `UDP-RECVFROM:${port},bind=127.0.0.1`,
      "EXEC:cat",
    ], { ready: /receiving on/ });
    const netcat = await runExample("netcat.ts", [
      "--udp",
      "--idle-timeout",
      "1000",
      "127.0.0.1",
      String(port),
    ], {
      flags: [...headerFlags("netcat.ts"), "--unstable-net"],
      stdin: "ping\n",
    });
    assertEquals(netcat.code, 0, netcat.stderr);
    assertEquals(netcat.stdout, "ping\n");
    socat.kill("SIGTERM");
    await socat.result();
  },
});

Deno.test({
  name:
    "examples/netcat.ts --listen --udp prints an nc -u datagram and answers its sender",
  ignore: ncMissing,
  async fn() {
    await using netcat = await startNetcat(
      ["--listen", "--udp", "127.0.0.1", "0"],
      {
        flags: [...headerFlags("netcat.ts"), "--unstable-net"],
        stdin: "pong\n",
      },
    );
    // -w 1: nc quits one second after its input ends and nothing arrives.
    const nc = await run(
      "nc",
      ["-u", "-w", "1", "127.0.0.1", String(netcat.port)],
      "ping\n",
    );
    assertEquals(nc.stdout, "pong\n");
    netcat.kill("SIGINT");
    const { code, stdout, stderr } = await netcat.result();
    assertEquals(code, 0, stderr);
    assertEquals(stdout, "ping\n");
  },
});

Deno.test({
  name: "examples/netcat.ts --unix talks to nc -U both ways",
  ignore: ncMissing,
  async fn() {
    await using dir = await tempDir("netcat_test_");
    const path = `${dir.path}/nc.sock`;
    {
      await using netcat = await startNetcat(["--listen", "--unix", path], {
        flags: unixFlags(dir.path, "nc.sock", true),
        stdin: "from netcat\n",
      });
      const nc = await run("nc", ["-N", "-U", path], "from nc\n");
      assertEquals(nc.code, 0, nc.stderr);
      assertEquals(nc.stdout, "from netcat\n");
      const { code, stdout, stderr } = await netcat.result();
      assertEquals(code, 0, stderr);
      assertEquals(stdout, "from nc\n");
    }
    await using nc = await start("nc", ["-N", "-l", "-v", "-U", path], {
      ready: /(Bound|Listening) on/,
      stdin: "from nc\n",
    });
    const netcat = await runExample("netcat.ts", ["--unix", path], {
      flags: unixFlags(dir.path, "nc.sock", false),
      stdin: "from netcat\n",
    });
    assertEquals(netcat.code, 0, netcat.stderr);
    assertEquals(netcat.stdout, "from nc\n");
    const { stdout } = await nc.result();
    assertEquals(stdout, "from netcat\n");
  },
});

Deno.test({
  name: "examples/netcat.ts --exec cat echoes to nc, then exits",
  ignore: ncMissing,
  async fn() {
    await using netcat = await startNetcat(
      ["--listen", "--exec", "cat", "127.0.0.1", "0"],
      { flags: [...headerFlags("netcat.ts"), "--allow-run=cat"] },
    );
    const nc = await run(
      "nc",
      ["-N", "127.0.0.1", String(netcat.port)],
      "echo me\n",
    );
    assertEquals(nc.code, 0, nc.stderr);
    assertEquals(nc.stdout, "echo me\n");
    const { code, stdout, stderr } = await netcat.result();
    assertEquals(code, 0, stderr);
    assertEquals(stdout, "");
  },
});

Deno.test({
  name:
    "examples/netcat.ts --keep-open serves client after client until SIGINT",
  ignore: ncMissing,
  async fn() {
    await using netcat = await startNetcat([
      "--listen",
      "--keep-open",
      "--exec",
      "head -n 1",
      "--max-connections",
      "2",
      "127.0.0.1",
      "0",
    ], {
      flags: [...headerFlags("netcat.ts"), "--allow-run=head"],
    });
    for (const word of ["one", "two", "three"]) {
      const nc = await run(
        "nc",
        ["-N", "127.0.0.1", String(netcat.port)],
        `${word}\n`,
      );
      assertEquals(nc.stdout, `${word}\n`);
    }
    netcat.kill("SIGINT");
    const { code, stderr } = await netcat.result();
    assertEquals(code, 0, stderr);
    assertEquals(stderr.match(/connection from/g)?.length, 3, stderr);
  },
});

Deno.test("examples/netcat.ts sends its piped input to the end after the peer half-closes", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    using conn = await listener.accept();
    await conn.write(new TextEncoder().encode("closing my side\n"));
    await conn.closeWrite();
    return await new Response(conn.readable).text();
  })();
  const input = "input that outlives the peer's stream\n".repeat(2000);
  const netcat = await runExample("netcat.ts", [
    "127.0.0.1",
    String(listener.addr.port),
  ], { stdin: input });
  assertEquals(netcat.code, 0, netcat.stderr);
  assertEquals(netcat.stdout, "closing my side\n");
  assertEquals(await serving, input);
});

Deno.test("examples/netcat.ts --keep-open hands the rest of its input to the next client", async () => {
  await using netcat = await startNetcat(
    ["--listen", "--keep-open", "127.0.0.1", "0"],
    { stdin: "for whoever connects\n" },
  );
  {
    // The first client takes the input, and its end.
    using conn = await Deno.connect({ port: netcat.port });
    assertEquals(
      await new Response(conn.readable).text(),
      "for whoever connects\n",
    );
  }
  {
    // The second gets the end at once.
    using conn = await Deno.connect({ port: netcat.port });
    await conn.write(new TextEncoder().encode("second\n"));
    assertEquals(await new Response(conn.readable).text(), "");
  }
  netcat.kill("SIGINT");
  const { code, stdout, stderr } = await netcat.result();
  assertEquals(code, 0, stderr);
  assertEquals(stdout, "second\n");
});

Deno.test("examples/netcat.ts explains a refused connection and a missing flag", async () => {
  const port = closedPort();
  const refused = await runExample("netcat.ts", ["127.0.0.1", String(port)], {
    stdin: "",
  });
  assertEquals(refused.code, 1);
  assertEquals(
    refused.stderr,
    `connect tcp 127.0.0.1:${port}: connection refused; check that a server is listening at that address\n`,
  );
  const udp = await runExample("netcat.ts", ["--udp", "127.0.0.1", "53"], {
    stdin: "",
  });
  assertEquals(udp.code, 1);
  assertStringIncludes(udp.stderr, "--unstable-net");
  const exec = await runExample("netcat.ts", [
    "--listen",
    "--exec",
    "cat",
    "0",
  ], { stdin: "" });
  assertEquals(exec.code, 1);
  assertStringIncludes(exec.stderr, "--allow-run=cat");
  await assertFlagsNeeded("netcat.ts", ["127.0.0.1", String(port)], {
    stdin: "",
  });
});

Deno.test("examples/netcat.ts rejects bad usage with a message", async () => {
  for (
    const [args, message] of [
      [["127.0.0.1"], "give the host and the port to connect to"],
      [["--listen"], "give the port to listen on"],
      [["--udp", "--exec", "cat", "127.0.0.1", "9"], "--exec needs a stream"],
      [
        ["--keep-open", "127.0.0.1", "9"],
        "--keep-open works with --listen only",
      ],
      [["--bogus", "127.0.0.1", "9"], "unknown option --bogus"],
    ] as const
  ) {
    const { code, stderr } = await runExample("netcat.ts", [...args], {
      stdin: "",
    });
    assertEquals(code, 1, `${args.join(" ")}: ${stderr}`);
    assertStringIncludes(stderr, message);
    assert(!/^\s+at /m.test(stderr), stderr);
  }
});
