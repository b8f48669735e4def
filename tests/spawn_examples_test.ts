import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  headerFlagsIn,
  runExample,
  startExample,
} from "./_examples.ts";
import { readAll, tempDir } from "./_helpers.ts";

/** `date`'s default output holds the time of day. */
const DATE_OUTPUT = /\d\d:\d\d:\d\d/;

/** The header's flags, with the command it may run changed to `program`. */
function flagsRunning(name: string, program: string, dir?: string): string[] {
  const flags = dir === undefined
    ? headerFlags(name)
    : headerFlagsIn(name, dir);
  return flags.map((flag) =>
    flag.startsWith("--allow-run=") ? `--allow-run=${program}` : flag
  );
}

Deno.test("examples/tcp_exec_server.ts runs date for each client", async () => {
  await using server = await startExample("tcp_exec_server.ts", [
    "--port",
    "0",
    "--max-connections",
    "2",
  ]);
  assert(server.address.startsWith("127.0.0.1:"), server.address);
  for (let i = 0; i < 2; i++) {
    using conn = await Deno.connect({ port: server.port });
    assertMatch(await readAll(conn), DATE_OUTPUT);
  }
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  assertEquals(stderr, "");
});

Deno.test("examples/tcp_exec_server.ts runs the command after --, with the client's address", async () => {
  await using server = await startExample("tcp_exec_server.ts", [
    "--port",
    "0",
    "--",
    "sh",
    "-c",
    'echo "$PROTO $TCPREMOTEPORT"; exec cat',
  ], { flags: flagsRunning("tcp_exec_server.ts", "sh") });
  using conn = await Deno.connect({ port: server.port });
  await conn.write(new TextEncoder().encode("echoed by cat\n"));
  await conn.closeWrite();
  assertEquals(
    await readAll(conn),
    `TCP ${conn.localAddr.port}\nechoed by cat\n`,
  );
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/*_exec_server.ts pass a command only PATH, LANG and the connection's variables", async () => {
  // What the server itself was started with: a secret, and the variables of
  // a connection it was once run for.
  const inherited = {
    SPAWN_EXAMPLE_SECRET: "secret",
    TCPREMOTEHOST: "stale-client.example",
    TCPREMOTEINFO: "stale-user",
    TCPLOCALHOST: "stale.example",
    TCPREMOTEIP: "192.0.2.2",
  };
  for (const [name, value] of Object.entries(inherited)) {
    Deno.env.set(name, value);
  }
  try {
    const path = Deno.env.get("PATH");
    const lang = Deno.env.get("LANG");
    const kept = [
      ...(path === undefined ? [] : [`PATH=${path}`]),
      ...(lang === undefined ? [] : [`LANG=${lang}`]),
    ];
    {
      await using server = await startExample("tcp_exec_server.ts", [
        "--port",
        "0",
        "--",
        "env",
      ], { flags: flagsRunning("tcp_exec_server.ts", "env") });
      using conn = await Deno.connect({ port: server.port });
      const variables = (await readAll(conn)).trim().split("\n").sort();
      assertEquals(
        variables,
        [
          ...kept,
          "PROTO=TCP",
          "TCPLOCALIP=127.0.0.1",
          `TCPLOCALPORT=${server.port}`,
          "TCPREMOTEIP=127.0.0.1",
          `TCPREMOTEPORT=${conn.localAddr.port}`,
        ].sort(),
      );
      const { code, stderr } = await server.stop();
      assertEquals(code, 0, stderr);
    }
    await using dir = await tempDir("spawn_examples_");
    const socket = `${dir.path}/exec.sock`;
    await using server = await startExample("unix_exec_server.ts", [
      "--path",
      socket,
      "--",
      "env",
    ], { flags: flagsRunning("unix_exec_server.ts", "env", dir.path) });
    using conn = await Deno.connect({ transport: "unix", path: socket });
    const variables = (await readAll(conn)).trim().split("\n").sort();
    assertEquals(
      variables,
      [...kept, "PROTO=UNIX", `UNIXLOCALPATH=${socket}`].sort(),
    );
    const { code, stderr } = await server.stop();
    assertEquals(code, 0, stderr);
  } finally {
    for (const name of Object.keys(inherited)) Deno.env.delete(name);
  }
});

Deno.test("examples/tcp_exec_server.ts reports a failing command and keeps serving", async () => {
  await using server = await startExample("tcp_exec_server.ts", [
    "--port",
    "0",
    "--",
    "sh",
    "-c",
    "echo failing; exit 3",
  ], { flags: flagsRunning("tcp_exec_server.ts", "sh") });
  for (let i = 0; i < 2; i++) {
    using conn = await Deno.connect({ port: server.port });
    assertEquals(await readAll(conn), "failing\n");
  }
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  assertEquals(stderr, "sh exited with code 3\n".repeat(2));
});

Deno.test("examples/tcp_exec_server.ts names the --allow-run flag for another command", async () => {
  const { code, stderr } = await runExample("tcp_exec_server.ts", [
    "--port",
    "0",
    "--",
    "cat",
  ]);
  assertEquals(code, 1);
  assertEquals(
    stderr,
    "spawn cat: permission denied; run again with --allow-run=cat\n",
  );
});

Deno.test("examples/unix_exec_server.ts runs date, and cat after --, on a Unix socket", async () => {
  await using dir = await tempDir("spawn_examples_");
  const path = `${dir.path}/exec.sock`;
  {
    await using server = await startExample("unix_exec_server.ts", [
      "--path",
      path,
      "--mode",
      "600",
    ], { flags: flagsRunning("unix_exec_server.ts", "date", dir.path) });
    assertEquals(server.address, path);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    using conn = await Deno.connect({ transport: "unix", path });
    assertMatch(await readAll(conn), DATE_OUTPUT);
    const { code, stderr } = await server.stop();
    assertEquals(code, 0, stderr);
  }
  await using server = await startExample("unix_exec_server.ts", [
    "--path",
    path,
    "--",
    "sh",
    "-c",
    'echo "$PROTO $UNIXLOCALPATH"; exec cat',
  ], { flags: flagsRunning("unix_exec_server.ts", "sh", dir.path) });
  using conn = await Deno.connect({ transport: "unix", path });
  await conn.write(new TextEncoder().encode("over unix\n"));
  await conn.closeWrite();
  assertEquals(await readAll(conn), `UNIX ${path}\nover unix\n`);
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
});

Deno.test("examples/*_exec_server.ts need every flag of their header", async () => {
  await assertFlagsNeeded("tcp_exec_server.ts", ["--port", "0"]);
  await using dir = await tempDir("spawn_examples_");
  await assertFlagsNeeded("unix_exec_server.ts", [
    "--path",
    `${dir.path}/exec.sock`,
  ], { flags: flagsRunning("unix_exec_server.ts", "date", dir.path) });
});
