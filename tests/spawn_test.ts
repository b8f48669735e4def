import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { ExitError, spawnHandler, type SpawnHandlerOptions } from "../spawn.ts";
import type { ServeOptions, Server } from "../server.ts";
import { serveTcp } from "../tcp.ts";
import { serveUnix } from "../unix.ts";
import {
  isMissing,
  readAll,
  readLine,
  tempDir,
  waitFor,
  within,
  writeAll,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A spawnHandler server on a free loopback port, whose handlers can be awaited. */
interface SpawnServer extends AsyncDisposable {
  server: Server<Deno.NetAddr>;
  port: number;
  /** Everything the server reported to onError. */
  errors: unknown[];
  /** Resolves once every handler started so far has settled. */
  settled(): Promise<void>;
}

function spawnServer(
  command: string[],
  options: SpawnHandlerOptions = {},
  serveOptions: ServeOptions = {},
): SpawnServer {
  const handler = spawnHandler(command, options);
  const errors: unknown[] = [];
  const handlers: Promise<unknown>[] = [];
  const server = serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    onError: (error) => errors.push(error),
    ...serveOptions,
  }, (conn, context) => {
    // The engine stops waiting for handlers after a forced shutdown; the
    // test waits for them, so that no child outlives it.
    const running = Promise.resolve(handler(conn, context));
    handlers.push(running.catch(() => {}));
    return running;
  });
  const settled = async () => {
    await within(Promise.all(handlers), "the handlers to settle");
  };
  return {
    server,
    port: server.addr.port,
    errors,
    settled,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await settled();
    },
  };
}

function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Whether process `pid` still exists (a zombie counts: it is not reaped). */
async function processExists(pid: number): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** A shell command that prints its pid, then becomes `program` (same pid). */
function printPidThen(program: string): string[] {
  return ["sh", "-c", `echo $$; exec ${program}`];
}

Deno.test("spawnHandler() joins cat to the connection and carries half-close both ways", async () => {
  await using s = spawnServer(["cat"]);
  using client = await connect(s.port);
  const data = encoder.encode("0123456789abcdef".repeat(64 * 1024)); // 1 MiB
  const sending = (async () => {
    await writeAll(client, data);
    await client.closeWrite(); // cat reads EOF, exits; its EOF reaches us
  })();
  const echoed = await readAll(client);
  await sending;
  assertEquals(echoed.length, data.length);
  assertEquals(echoed, decoder.decode(data));
  await s.settled();
  assertEquals(s.errors, []);
  // copy() read the client's input to its end, so the engine closes the
  // connection without lingering, one promise callback after the handler
  // settles.
  await waitFor(() => s.server.connections === 0, "the connection to close");
});

Deno.test("spawnHandler() closes the write side when the command's output ends, and still reads the client", async () => {
  // The command closes its stdout first, then reads its input to the end.
  await using s = spawnServer([
    "sh",
    "-c",
    "echo ready; exec >&-; wc -c >&2",
  ], { stderr: "null" });
  using client = await connect(s.port);
  assertEquals(await readAll(client), "ready\n");
  // The client's side is still open: the command still reads from it.
  await writeAll(client, encoder.encode("more input"));
  await client.closeWrite();
  await s.settled();
  assertEquals(s.errors, []);
});

Deno.test("spawnHandler() ends the client's stream when the command exits, though the client never half-closes", async () => {
  await using s = spawnServer(["sh", "-c", "echo bye"]);
  const client = await connect(s.port);
  assertEquals(await readAll(client), "bye\n");
  await s.settled();
  // The server closes the connection once the client has gone (or its
  // lingering time is over).
  client.close();
  await waitFor(() => s.server.connections === 0, "the connection to close");
  assertEquals(s.errors, []);
});

/**
 * A reply that fits in the socket buffers of loopback, so that the command
 * can write all of it and exit before the client reads a byte.
 */
const BUFFERED_REPLY = 1024 * 1024;

Deno.test({
  name:
    "spawnHandler() delivers a command's whole output though the client sent input it never read",
  async fn() {
    // The command writes its output and exits without reading its input;
    // the client reads only once the handler has settled. A close with the
    // client's bytes unread resets the connection, and the kernel drops
    // what is still unsent of the output.
    await using s = spawnServer([
      "head",
      "-c",
      String(BUFFERED_REPLY),
      "/dev/zero",
    ]);
    using client = await connect(s.port);
    const sending = (async () => {
      await writeAll(client, new Uint8Array(1024 * 1024));
      await client.closeWrite();
    })().catch(() => {});
    await s.settled();
    let received = 0;
    let failure: unknown;
    const buffer = new Uint8Array(64 * 1024);
    const reading = (async () => {
      try {
        for (let n; (n = await client.read(buffer)) !== null;) received += n;
      } catch (error) {
        failure = error;
      }
    })();
    await within(reading, "the end of the output");
    assertEquals(failure, undefined);
    assertEquals(received, BUFFERED_REPLY);
    await sending;
    assertEquals(s.errors, []);
  },
});

Deno.test("spawnHandler() sets PROTO and the TCP addresses as ucspi-tcp does", async () => {
  await using s = spawnServer([
    "sh",
    "-c",
    'echo "$PROTO $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT"',
  ]);
  using client = await connect(s.port);
  const { localAddr, remoteAddr } = client;
  assertEquals(
    await readAll(client),
    `TCP ${localAddr.hostname} ${localAddr.port} ${remoteAddr.hostname} ${remoteAddr.port}\n`,
  );
  await s.settled();
});

Deno.test("spawnHandler() gives IPv6 addresses unbracketed", async () => {
  await using server = serveTcp(
    { hostname: "::1", port: 0 },
    spawnHandler(["sh", "-c", 'echo "$TCPREMOTEIP $TCPLOCALIP $TCPLOCALPORT"']),
  );
  using client = await Deno.connect({
    hostname: "::1",
    port: server.addr.port,
  });
  assertEquals(await readAll(client), `::1 ::1 ${server.addr.port}\n`);
});

Deno.test("spawnHandler() sets PROTO=UNIX and UNIXLOCALPATH on a Unix socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spawn_test_" });
  try {
    const path = `${dir}/exec.sock`;
    const server = await serveUnix(
      { path },
      spawnHandler(["sh", "-c", 'echo "$PROTO $UNIXLOCALPATH"']),
    );
    try {
      using client = await Deno.connect({ transport: "unix", path });
      assertEquals(await readAll(client), `UNIX ${path}\n`);
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnHandler() adds options.env, and the connection's variables", async () => {
  await using s = spawnServer(["env"], {
    env: { GREETING: "hello" },
    clearEnv: true,
  });
  using client = await connect(s.port);
  const variables = (await readAll(client)).trim().split("\n").sort();
  assertEquals(variables, [
    "GREETING=hello",
    "PROTO=TCP",
    `TCPLOCALIP=127.0.0.1`,
    `TCPLOCALPORT=${s.port}`,
    `TCPREMOTEIP=127.0.0.1`,
    `TCPREMOTEPORT=${client.localAddr.port}`,
  ]);
});

/**
 * Sets `variables` in this process's environment for the length of `run`,
 * then restores what was there: the server's environment, as a command
 * would inherit it.
 */
async function withServerEnv(
  variables: Record<string, string>,
  run: () => Promise<void>,
): Promise<void> {
  const before = Object.keys(variables).map((name) =>
    [name, Deno.env.get(name)] as const
  );
  for (const [name, value] of Object.entries(variables)) {
    Deno.env.set(name, value);
  }
  try {
    await run();
  } finally {
    for (const [name, value] of before) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

/** The variables of the UCSPI families a server may have been started with. */
const STALE_CONNECTION_VARIABLES = {
  PROTO: "TCP",
  TCPLOCALHOST: "stale.example",
  TCPLOCALIP: "192.0.2.1",
  TCPLOCALPORT: "1",
  TCPREMOTEHOST: "stale-client.example",
  TCPREMOTEINFO: "stale-user",
  TCPREMOTEIP: "192.0.2.2",
  TCPREMOTEPORT: "2",
  TCPINTERFACE: "eth9",
  UNIXLOCALPATH: "/stale.sock",
  UNIXLOCALPID: "3",
  UNIXLOCALUID: "4",
  UNIXLOCALGID: "5",
  UNIXREMOTEPID: "6",
  UNIXREMOTEEUID: "7",
  UNIXREMOTEEGID: "8",
};

/** The `NAME=value` lines of `env` output whose name starts with one of `prefixes`. */
function variablesOf(output: string, prefixes: string[]): string[] {
  return output.trim().split("\n")
    .filter((line) => prefixes.some((prefix) => line.startsWith(prefix)))
    .sort();
}

Deno.test("spawnHandler() removes every inherited connection variable before setting the connection's own, over TCP", async () => {
  await withServerEnv(
    { ...STALE_CONNECTION_VARIABLES, SPAWN_TEST_KEPT: "kept" },
    async () => {
      await using s = spawnServer(["env"]);
      using client = await connect(s.port);
      const output = await readAll(client);
      assertEquals(
        variablesOf(output, ["PROTO=", "TCP", "UNIX", "SPAWN_TEST_"]),
        [
          "PROTO=TCP",
          "SPAWN_TEST_KEPT=kept",
          `TCPLOCALIP=127.0.0.1`,
          `TCPLOCALPORT=${s.port}`,
          `TCPREMOTEIP=127.0.0.1`,
          `TCPREMOTEPORT=${client.localAddr.port}`,
        ],
      );
    },
  );
});

Deno.test("spawnHandler() leaves no TCP variable beside PROTO=UNIX", async () => {
  await using dir = await tempDir("spawn_test_");
  const path = `${dir.path}/env.sock`;
  await withServerEnv(STALE_CONNECTION_VARIABLES, async () => {
    await using _server = await serveUnix({ path }, spawnHandler(["env"]));
    using client = await Deno.connect({ transport: "unix", path });
    const output = await readAll(client);
    assertEquals(variablesOf(output, ["PROTO=", "TCP", "UNIX"]), [
      "PROTO=UNIX",
      `UNIXLOCALPATH=${path}`,
    ]);
  });
});

Deno.test("spawnHandler() with inheritEnv passes on only the named variables of the server", async () => {
  await withServerEnv({
    SPAWN_TEST_SECRET: "secret",
    SPAWN_TEST_KEPT: "kept",
    TCPREMOTEHOST: "stale-client.example",
  }, async () => {
    await using s = spawnServer(["env"], {
      inheritEnv: ["SPAWN_TEST_KEPT", "SPAWN_TEST_UNSET"],
      env: { GREETING: "hello" },
    });
    using client = await connect(s.port);
    const variables = (await readAll(client)).trim().split("\n").sort();
    assertEquals(variables, [
      "GREETING=hello",
      "PROTO=TCP",
      "SPAWN_TEST_KEPT=kept",
      `TCPLOCALIP=127.0.0.1`,
      `TCPLOCALPORT=${s.port}`,
      `TCPREMOTEIP=127.0.0.1`,
      `TCPREMOTEPORT=${client.localAddr.port}`,
    ]);
  });
});

Deno.test("spawnHandler() keeps the server's environment unless clearEnv is set", async () => {
  await using s = spawnServer(["sh", "-c", 'echo "${PATH:+has PATH}"']);
  using client = await connect(s.port);
  assertEquals(await readAll(client), "has PATH\n");
});

Deno.test("spawnHandler() runs the command in options.cwd", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await using s = spawnServer(["pwd"], { cwd: dir });
    using client = await connect(s.port);
    assertEquals(await readAll(client), `${dir}\n`);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("spawnHandler() reports a missing cwd by name", async () => {
  await using s = spawnServer(["pwd"], { cwd: "/no/such/directory" });
  using client = await connect(s.port);
  assertEquals(await readAll(client), "");
  await s.settled();
  assertEquals(s.errors.length, 1);
  assertInstanceOf(s.errors[0], Deno.errors.NotFound);
  assertStringIncludes(
    (s.errors[0] as Error).message,
    "spawn pwd: options.cwd /no/such/directory does not exist",
  );
});

Deno.test("spawnHandler() stops the command when a write to a departed client fails", async () => {
  await using s = spawnServer(printPidThen("yes"));
  const client = await connect(s.port);
  const pid = Number(await readLine(client));
  assert(await processExists(pid), "yes is running");
  client.close();
  await s.settled();
  assert(!(await processExists(pid)), `yes (pid ${pid}) is gone`);
  // The connection's own error is reported, not the kill.
  assertEquals(s.errors.length, 1);
  assert(!(s.errors[0] instanceof ExitError), String(s.errors[0]));
});

Deno.test({
  name: "spawnHandler() stops a silent command when the client resets",
  ignore: await isMissing("python3"),
  async fn() {
    await using s = spawnServer(printPidThen("sleep 30"));
    // Python can close with SO_LINGER 0, which sends a reset; Deno cannot.
    const { code, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, struct
s = socket.create_connection(("127.0.0.1", ${s.port}), timeout=10)
line = b""
while not line.endswith(b"\\n"):
    line += s.recv(1)
print(line.decode().strip())
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(code, 0, decoder.decode(stderr));
    const pid = Number(decoder.decode(stdout));
    await s.settled();
    assert(!(await processExists(pid)), `sleep (pid ${pid}) is gone`);
    assertEquals(s.errors.length, 1);
    assertInstanceOf(s.errors[0], Deno.errors.ConnectionReset);
  },
});

Deno.test("spawnHandler() stops the commands when a shutdown closes their connections", async () => {
  await using s = spawnServer(printPidThen("sleep 30"), {}, {
    shutdownTimeout: 100,
  });
  // One client waits on the connection; the other has half-closed, so no
  // read is waiting and only the close itself can tell the handler.
  using reading = await connect(s.port);
  using halfClosed = await connect(s.port);
  const pids = [
    Number(await readLine(reading)),
    Number(await readLine(halfClosed)),
  ];
  await halfClosed.closeWrite();
  for (const pid of pids) assert(await processExists(pid), `sleep ${pid} runs`);
  await s.server.shutdown();
  await s.settled();
  for (const pid of pids) {
    assert(!(await processExists(pid)), `sleep ${pid} is gone`);
  }
  assertEquals(s.errors, []);
});

Deno.test("spawnHandler() stops a silent command at the server's idleTimeout", async () => {
  await using s = spawnServer(printPidThen("sleep 30"), {}, {
    idleTimeout: 200,
  });
  using client = await connect(s.port);
  const pid = Number(await readLine(client));
  await client.closeWrite();
  assertEquals(await readAll(client), "");
  await s.settled();
  assert(!(await processExists(pid)), `sleep ${pid} is gone`);
  assertEquals(s.errors, []);
});

Deno.test("spawnHandler() with maxConnections: 1 runs one command at a time", async () => {
  await using s = spawnServer(
    ["sh", "-c", "echo start; read line; echo end"],
    {},
    {
      maxConnections: 1,
    },
  );
  const events: string[] = [];
  using first = await connect(s.port);
  assertEquals(await readLine(first), "start\n");
  using second = await connect(s.port);
  const secondStarted = readLine(second).then((line) => {
    events.push(`second: ${line.trim()}`);
  });
  // A second command running concurrently would answer now; give it the chance.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    secondStarted,
    new Promise((resolve) => timer = setTimeout(resolve, 200)),
  ]);
  clearTimeout(timer);
  events.push("first: released");
  await writeAll(first, encoder.encode("go\n"));
  assertEquals(await readAll(first), "end\n");
  await secondStarted;
  assertEquals(events, ["first: released", "second: start"]);
  await writeAll(second, encoder.encode("go\n"));
  assertEquals(await readAll(second), "end\n");
});

Deno.test("spawnHandler() reports a missing program, and the server keeps serving", async () => {
  await using s = spawnServer(["no-such-program-for-spawn-test"]);
  for (let i = 0; i < 2; i++) {
    using client = await connect(s.port);
    assertEquals(await readAll(client), "");
  }
  await s.settled();
  assertEquals(s.errors.length, 2);
  for (const error of s.errors) {
    assertInstanceOf(error, Deno.errors.NotFound);
    assertEquals(
      error.message,
      "spawn no-such-program-for-spawn-test: program not found on the PATH; install it, or give its full path",
    );
    assertInstanceOf(error.cause, Deno.errors.NotFound);
  }
});

Deno.test("spawnHandler() reports a non-zero exit as an ExitError", async () => {
  await using s = spawnServer(["sh", "-c", "echo partial; exit 7"]);
  using client = await connect(s.port);
  assertEquals(await readAll(client), "partial\n");
  await s.settled();
  assertEquals(s.errors.length, 1);
  const error = s.errors[0];
  assertInstanceOf(error, ExitError);
  assertEquals(error.message, "sh exited with code 7");
  assertEquals(error.status, { success: false, code: 7, signal: null });
  assertEquals(error.command, ["sh", "-c", "echo partial; exit 7"]);
});

Deno.test("spawnHandler() reports a command killed by a signal it was not sent", async () => {
  await using s = spawnServer(["sh", "-c", "kill -USR1 $$"]);
  using client = await connect(s.port);
  assertEquals(await readAll(client), "");
  await s.settled();
  assertEquals(s.errors.length, 1);
  assertInstanceOf(s.errors[0], ExitError);
  assertEquals(s.errors[0].message, "sh was killed by SIGUSR1");
});

Deno.test("spawnHandler() passes stderr lines with their connection to a function", async () => {
  const lines: string[] = [];
  await using s = spawnServer([
    "sh",
    "-c",
    "echo first >&2; echo out; printf 'second' >&2",
  ], {
    stderr: (line, conn) =>
      lines.push(`${(conn.remoteAddr as Deno.NetAddr).port}: ${line}`),
  });
  using client = await connect(s.port);
  const port = client.localAddr.port;
  assertEquals(await readAll(client), "out\n");
  await s.settled();
  assertEquals(lines, [`${port}: first`, `${port}: second`]);
  assertEquals(s.errors, []);
});

Deno.test("spawnHandler() reports a throwing stderr function, and still drains stderr", async () => {
  await using s = spawnServer([
    "sh",
    "-c",
    // More than a pipe holds: the command blocks unless stderr is drained.
    "echo oops >&2; head -c 1000000 /dev/zero >&2; echo done",
  ], {
    stderr: () => {
      throw new Error("log failed");
    },
  });
  using client = await connect(s.port);
  assertEquals(await readAll(client), "done\n");
  await s.settled();
  assertEquals(s.errors.length, 1);
  assertInstanceOf(s.errors[0], Error);
  assertEquals(s.errors[0].message, "log failed");
});

Deno.test("spawnHandler() reports a stderr line over 64 KiB, and still drains stderr", async () => {
  const lines: string[] = [];
  await using s = spawnServer([
    "sh",
    "-c",
    "echo short >&2; head -c 1000000 /dev/zero | tr '\\0' x >&2; echo done",
  ], { stderr: (line) => lines.push(line) });
  using client = await connect(s.port);
  assertEquals(await readAll(client), "done\n");
  await s.settled();
  assertEquals(lines, ["short"]);
  assertEquals(s.errors.length, 1);
  assertInstanceOf(s.errors[0], Deno.errors.InvalidData);
  assertStringIncludes(s.errors[0].message, "maxLineLength");
});

Deno.test("spawnHandler() checks its arguments", () => {
  assertThrows(
    () => spawnHandler("cat" as unknown as string[]),
    TypeError,
    'command must be a non-empty array of strings, the program and its arguments, such as ["cat"] or ["sh", "-c", "date"], got "cat"',
  );
  assertThrows(() => spawnHandler([]), TypeError, "got an empty array");
  assertThrows(
    () => spawnHandler(["cat", 1 as unknown as string]),
    TypeError,
    "got 1 at index 1",
  );
  assertThrows(() => spawnHandler([""]), TypeError, "an empty program name");
  assertThrows(
    () => spawnHandler(["cat"], { env: { N: 1 as unknown as string } }),
    TypeError,
    "options.env.N must be a string, got 1",
  );
  assertThrows(
    () => spawnHandler(["cat"], { clearEnv: "yes" as unknown as boolean }),
    TypeError,
    'options.clearEnv must be true or false, got "yes"',
  );
  assertThrows(
    () => spawnHandler(["cat"], { env: { TCPREMOTEHOST: "x" } }),
    TypeError,
    "options.env.TCPREMOTEHOST names TCPREMOTEHOST, a variable of the connection, which spawnHandler sets for each client or leaves unset; remove it",
  );
  assertThrows(
    () => spawnHandler(["cat"], { inheritEnv: "PATH" as unknown as string[] }),
    TypeError,
    'options.inheritEnv must be an array of variable names such as ["PATH", "LANG"], got "PATH"',
  );
  assertThrows(
    () => spawnHandler(["cat"], { inheritEnv: ["PATH", "A=B"] }),
    TypeError,
    'options.inheritEnv[1] must be a variable name such as "PATH", got "A=B"',
  );
  assertThrows(
    () => spawnHandler(["cat"], { inheritEnv: ["UNIXREMOTEPID"] }),
    TypeError,
    "options.inheritEnv[0] names UNIXREMOTEPID, a variable of the connection",
  );
  assertThrows(
    () => spawnHandler(["cat"], { inheritEnv: ["PATH"], clearEnv: true }),
    TypeError,
    "give only inheritEnv (clearEnv: true is inheritEnv: [])",
  );
  assertThrows(
    () => spawnHandler(["cat"], { cwd: "" }),
    TypeError,
    "options.cwd must be a directory path",
  );
  assertThrows(
    () => spawnHandler(["cat"], { stderr: "piped" as "null" }),
    TypeError,
    'options.stderr must be "inherit", "null" or a function (line, conn) => void, got "piped"',
  );
  assertThrows(
    () => spawnHandler(["cat"], null as unknown as SpawnHandlerOptions),
    TypeError,
    "options must be an object",
  );
});

Deno.test("spawnHandler() names --allow-run=PROGRAM when running it is not permitted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spawn_test_" });
  try {
    const script = `${dir}/server.ts`;
    const spawnModule = new URL("../spawn.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { spawnHandler } from ${JSON.stringify(spawnModule)};
try {
  spawnHandler(["cat"]);
} catch (error) {
  console.error(error.name + ": " + error.message);
  Deno.exit(1);
}
`,
    );
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-net=127.0.0.1", script],
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(code, 1);
    assertEquals(
      decoder.decode(stderr).trim(),
      "NotCapable: spawn cat: permission denied; run again with --allow-run=cat",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs `source` (which imports spawn.ts as SPAWN) with `flags`; returns its exit code and stderr. */
async function runScript(
  source: string,
  flags: string[],
): Promise<{ code: number; stderr: string }> {
  await using dir = await tempDir("spawn_test_");
  const script = `${dir.path}/server.ts`;
  const spawnModule = new URL("../spawn.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { spawnHandler } from ${JSON.stringify(spawnModule)};\n${source}`,
  );
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, script],
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: decoder.decode(stderr).trim() };
}

/** A script that makes a handler with `options` and prints why it could not. */
function makeHandler(options: string): string {
  return `try {
  spawnHandler(["cat"], ${options});
} catch (error) {
  console.error(error.name + ": " + error.message);
  Deno.exit(1);
}
`;
}

Deno.test("spawnHandler() names --allow-env when the environment the command inherits cannot be read", async () => {
  assertEquals(await runScript(makeHandler("{}"), ["--allow-run=cat"]), {
    code: 1,
    stderr:
      'NotCapable: spawn cat: passing the server\'s environment on, without the connection variables it may hold (TCPREMOTEHOST...), needs to read all of it: run again with --allow-env, or pass only what the command needs with the option inheritEnv: ["PATH"] and --allow-env=PATH, or clearEnv: true',
  });
  assertEquals(
    await runScript(makeHandler('{ inheritEnv: ["PATH", "LANG"] }'), [
      "--allow-run=cat",
      "--allow-env=PATH",
    ]),
    {
      code: 1,
      stderr:
        "NotCapable: spawn cat: reading the variables of inheritEnv is not permitted; run again with --allow-env=PATH,LANG",
    },
  );
  for (
    const [options, flags] of [
      ['{ inheritEnv: ["PATH", "LANG"] }', ["--allow-env=PATH,LANG"]],
      ["{ clearEnv: true }", []],
      ["{}", ["--allow-env"]],
    ] as const
  ) {
    assertEquals(
      await runScript(makeHandler(options), ["--allow-run=cat", ...flags]),
      { code: 0, stderr: "" },
      options,
    );
  }
});

Deno.test("spawnHandler() handlers reject when the spawn fails", async () => {
  const handler = spawnHandler(["no-such-program-for-spawn-test"]);
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using _client = await connect(listener.addr.port);
  using conn = await listener.accept();
  await assertRejects(
    async () => {
      // A context as the engine passes it: a handler uses only its signal.
      const context = {
        signal: new AbortController().signal,
        setDeadline: () => {},
      };
      await handler(conn, context);
    },
    Deno.errors.NotFound,
    "spawn no-such-program-for-spawn-test: program not found",
  );
});

Deno.test("spawnHandler() rejects an unknown option name, naming the closest", () => {
  const error = assertThrows(
    () => spawnHandler(["cat"], { clearenv: true } as SpawnHandlerOptions),
    TypeError,
  );
  assertStringIncludes(
    error.message,
    "options.clearenv is not an option; did you mean options.clearEnv?",
  );
});
