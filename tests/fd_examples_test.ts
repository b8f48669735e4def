import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  headerFlagsIn,
  runExample,
  startExample,
} from "./_examples.ts";
import { libcPath } from "../_libc.ts";
import { exists, isMissing, tempDir, waitFor } from "./_helpers.ts";
import { connectContinuously } from "./soak/restart.ts";

Deno.test("examples/socketpair.ts header asks for FFI and for reading its own module graph (the Worker)", () => {
  assertEquals(headerFlags("socketpair.ts"), [
    "--allow-ffi",
    "--allow-read=.",
  ]);
});

Deno.test("examples/socketpair.ts: a Worker child answers the parent over a socket pair", async () => {
  const result = await runExample("socketpair.ts", [], {
    stdin: "hello\nchild\n",
  });
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, "HELLO\nCHILD\n");
  assertStringIncludes(
    result.stderr,
    `talking to a child of process`,
  );
});

Deno.test("examples/socketpair.ts runs with FFI scoped to the C library's absolute path", async () => {
  const result = await runExample("socketpair.ts", [], {
    flags: [`--allow-ffi=${libcPath()}`, "--allow-read=."],
    stdin: "scoped\n",
  });
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, "SCOPED\n");
});

Deno.test("examples/socketpair.ts names each flag it misses, the library's path with --allow-ffi", async () => {
  await assertFlagsNeeded("socketpair.ts", [], { stdin: "x\n" });
  const result = await runExample("socketpair.ts", [], {
    flags: ["--allow-read=."],
    stdin: "x\n",
  });
  assertStringIncludes(result.stderr, `--allow-ffi=${libcPath()}`);
});

Deno.test("examples/restart_server.ts hands its listener to a second copy; a client connecting throughout sees no refused or reset connection", async () => {
  await using dir = await tempDir("restart_");
  const flags = headerFlagsIn("restart_server.ts", dir.path);
  const path = dir.file("restart.sock");
  const control = dir.file("restart.control");
  const args = ["--path", path, "--control", control];
  const first = await startExample("restart_server.ts", args, { flags });
  const counts = { ok: 0, failures: new Map<string, number>(), slowest: 0 };
  const stop = new AbortController();
  const client = connectContinuously(path, stop.signal, counts);
  try {
    await waitFor(() => counts.ok >= 20, "echoes from the first server");
    await using second = await startExample("restart_server.ts", args, {
      flags,
    });
    const atHandover = counts.ok;
    await waitFor(
      () => counts.ok >= atHandover + 20,
      "echoes after the handover",
    );
    // SIGCONT changes nothing for a running process: this waits for the
    // first server to exit on its own (or kills it after STOP_TIMEOUT_MS).
    const old = await first.stop("SIGCONT");
    assertEquals(old.code, 0, old.stderr);
    assertStringIncludes(old.stdout, "handed over");
    stop.abort();
    await client;
    assertEquals(Object.fromEntries(counts.failures), {});
    const last = await second.stop();
    assertEquals(last.code, 0, last.stderr);
    assertEquals(
      await exists(path),
      false,
      "the last server removes its socket",
    );
  } finally {
    stop.abort();
    await client;
    await first.stop();
  }
});

Deno.test("examples/restart_server.ts keeps serving when a copy fails during the handover, and hands over to the next", async () => {
  await using dir = await tempDir("restart_");
  const flags = headerFlagsIn("restart_server.ts", dir.path);
  const path = dir.file("restart.sock");
  const control = dir.file("restart.control");
  const args = ["--path", path, "--control", control];
  const first = await startExample("restart_server.ts", args, { flags });
  try {
    // A copy that dies during the handover: it takes the message and hangs
    // up without answering.
    await waitFor(() => exists(control), "the control socket");
    const failed = await Deno.connect({ transport: "unix", path: control });
    await failed.read(new Uint8Array(64));
    failed.close();
    const echo = async () => {
      using conn = await Deno.connect({ transport: "unix", path });
      await conn.write(new TextEncoder().encode("ping"));
      const reply = new Uint8Array(4);
      assertEquals(await conn.read(reply), 4);
      return new TextDecoder().decode(reply);
    };
    await waitFor(() => exists(control), "the control socket again");
    assertEquals(await echo(), "ping", "the first copy still serves");
    await using second = await startExample("restart_server.ts", args, {
      flags,
    });
    const old = await first.stop("SIGCONT");
    assertEquals(old.code, 0, old.stderr);
    assertStringIncludes(old.stderr, "handover failed, still serving");
    assertEquals(await echo(), "ping", "the second copy serves");
    const last = await second.stop();
    assertEquals(last.code, 0, last.stderr);
  } finally {
    await first.stop();
  }
});

Deno.test("examples/restart_server.ts names each flag it misses", async () => {
  await using dir = await tempDir("restart_");
  await assertFlagsNeeded("restart_server.ts", [
    "--path",
    dir.file("restart.sock"),
    "--control",
    dir.file("restart.control"),
  ], { flags: headerFlagsIn("restart_server.ts", dir.path) });
});

/** Connects to `path` with Python; returns what it was told and its own ids, alike. */
async function pythonAsks(path: string): Promise<[string, string]> {
  const script = "import os,socket,sys\n" +
    "s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);data=b''\n" +
    "while True:\n  chunk=s.recv(100)\n  if not chunk: break\n  data+=chunk\n" +
    "print(data.decode().strip())\n" +
    "print('pid %d uid %d gid %d' % (os.getpid(), os.geteuid(), os.getegid()))";
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", script, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assertEquals(code, 0, decoder.decode(stderr));
  const [told, own] = decoder.decode(stdout).trim().split("\n");
  return [told, own];
}

Deno.test("examples/unix_credentials_server.ts header asks for FFI and the socket's paths", () => {
  assertEquals(headerFlags("unix_credentials_server.ts"), [
    "--allow-ffi",
    "--allow-read=/tmp/sockets-net",
    "--allow-write=/tmp/sockets-net",
    "--allow-net=unix:/tmp/sockets-net/credentials.sock",
  ]);
});

Deno.test("examples/unix_credentials_server.ts tells a Python client its own pid, uid and gid, replaces a stale socket and removes its own", async () => {
  if (await isMissing("python3")) return;
  await using dir = await tempDir("credentials_");
  const path = dir.file("credentials.sock");
  // A socket file left behind, as by a killed run.
  Deno.listen({ transport: "unix", path }).close();
  const flags = headerFlagsIn("unix_credentials_server.ts", dir.path)
    .map((flag) => flag === "--allow-ffi" ? `--allow-ffi=${libcPath()}` : flag);
  await using server = await startExample(
    "unix_credentials_server.ts",
    ["--path", path],
    { flags },
  );
  assertEquals(server.address, path);
  for (let i = 0; i < 2; i++) {
    const [told, own] = await pythonAsks(path);
    assertEquals(told, own);
  }
  const { code, stderr } = await server.stop();
  assertEquals(code, 0, stderr);
  assertEquals(await exists(path), false, "the server removes its socket");
});

Deno.test("examples/unix_credentials_server.ts names each flag it misses, the library's path with --allow-ffi", async () => {
  await using dir = await tempDir("credentials_");
  const args = ["--path", dir.file("credentials.sock")];
  const flags = headerFlagsIn("unix_credentials_server.ts", dir.path);
  await assertFlagsNeeded("unix_credentials_server.ts", args, { flags });
  const result = await runExample("unix_credentials_server.ts", args, {
    flags: flags.filter((flag) => flag !== "--allow-ffi"),
  });
  assertStringIncludes(result.stderr, `--allow-ffi=${libcPath()}`);
});
