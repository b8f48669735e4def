import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  connectUnix,
  connectUnixDatagram,
  listenUnixDatagram,
  serveUnix,
} from "../unix.ts";
import { isMissing } from "./_tools.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const pythonMissing = await isMissing("python3");

/** Longer than any test needs; a hung test fails instead of hanging. */
const TEST_TIMEOUT_MS = 10_000;

/** A directory of the test's own, removed with everything in it. */
async function tempDir(): Promise<
  { path: string; file(name: string): string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix: "unix_test_" });
  return {
    path,
    file: (name) => `${path}/${name}`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

async function echo(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    await conn.write(buffer.subarray(0, n));
  }
}

/** Sends `text`, half-closes, and returns everything the server sent back. */
async function exchange(path: string, text: string): Promise<string> {
  using conn = await connectUnix(path, { timeout: TEST_TIMEOUT_MS });
  await conn.write(encoder.encode(text));
  await conn.closeWrite();
  return await new Response(conn.readable).text();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Leaves a stale socket file: a child process binds `path` and is killed with SIGKILL. */
async function crashServerAt(
  path: string,
  transport: "unix" | "unixpacket",
): Promise<void> {
  const bind = transport === "unix"
    ? `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} })`
    : `Deno.listenDatagram({ transport: "unixpacket", path: ${
      JSON.stringify(path)
    } })`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--unstable-net",
      `${bind}; console.log("ready"); setTimeout(() => {}, ${TEST_TIMEOUT_MS});`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  assertEquals(decoder.decode(value).trim(), "ready");
  assert((await Deno.lstat(path)).isSocket, "the killed server left its file");
}

function repeatTo(bytes: number, dir: string): string {
  return `${dir}/${"s".repeat(bytes - dir.length - 1)}`;
}

Deno.test("serveUnix() echoes over a Unix stream socket at its path", async () => {
  await using dir = await tempDir();
  const path = dir.file("echo.sock");
  let localPath: string | undefined;
  await using server = await serveUnix({ path }, async (conn) => {
    localPath = conn.localAddr.path;
    await echo(conn);
  });
  assertEquals(server.addr, { transport: "unix", path });
  assert((await Deno.lstat(path)).isSocket);
  assertEquals(await exchange(path, "hello over unix"), "hello over unix");
  assertEquals(localPath, path);
  // Only the socket is left in the directory: the private one is gone.
  const names = [];
  for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
  assertEquals(names, ["echo.sock"]);
});

Deno.test("serveUnix() removes its socket file when it shuts down", async () => {
  await using dir = await tempDir();
  const path = dir.file("s.sock");
  const server = await serveUnix({ path }, echo);
  assert(await exists(path));
  await server.shutdown();
  assertFalse(await exists(path));
});

Deno.test("serveUnix() replaces the stale socket file of a server killed with SIGKILL", async () => {
  await using dir = await tempDir();
  const path = dir.file("crashed.sock");
  await crashServerAt(path, "unix");
  await assertRejects(() => connectUnix(path), Deno.errors.ConnectionRefused);
  await using _server = await serveUnix({ path }, echo);
  // Answered where the stale file refused: the file was replaced. (Its inode
  // proves nothing: the file system may give the new socket the old number.)
  assertEquals(await exchange(path, "after the crash"), "after the crash");
});

Deno.test("serveUnix() with removeStale: false fails on a stale socket file and keeps it", async () => {
  await using dir = await tempDir();
  const path = dir.file("stale.sock");
  await crashServerAt(path, "unix");
  await assertRejects(
    () => serveUnix({ path, removeStale: false }, echo),
    Deno.errors.AddrInUse,
    `listen unix ${path}: a stale socket file (no server answers)`,
  );
  assert((await Deno.lstat(path)).isSocket);
});

Deno.test("serveUnix() never deletes a regular file, a directory or a link at the path", async () => {
  await using dir = await tempDir();
  const file = dir.file("precious.txt");
  await Deno.writeTextFile(file, "keep me");
  await assertRejects(
    () => serveUnix({ path: file }, echo),
    Deno.errors.AlreadyExists,
    `listen unix ${file}: the path is a regular file, not a socket, and was left untouched`,
  );
  assertEquals(await Deno.readTextFile(file), "keep me");

  const directory = dir.file("a-directory");
  await Deno.mkdir(directory);
  await assertRejects(
    () => serveUnix({ path: directory }, echo),
    Deno.errors.AlreadyExists,
    "is a directory, not a socket",
  );
  assert((await Deno.lstat(directory)).isDirectory);

  const link = dir.file("link.sock");
  await Deno.symlink(file, link);
  await assertRejects(
    () => serveUnix({ path: link }, echo),
    Deno.errors.AlreadyExists,
    "is a symbolic link, not a socket",
  );
  assert((await Deno.lstat(link)).isSymlink);
});

Deno.test("serveUnix() fails clearly when a live server owns the path", async () => {
  await using dir = await tempDir();
  const path = dir.file("live.sock");
  await using _first = await serveUnix({ path }, echo);
  const inode = (await Deno.lstat(path)).ino;
  const error = await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.AddrInUse,
    `listen unix ${path}: a live server owns this socket file`,
  );
  assertStringIncludes(
    error.message,
    "stop that server or choose another path",
  );
  assertEquals((await Deno.lstat(path)).ino, inode);
  assertEquals(await exchange(path, "still first"), "still first");
});

Deno.test("serveUnix() treats a live datagram socket at the path as in use", async () => {
  await using dir = await tempDir();
  const path = dir.file("dgram.sock");
  await using _datagram = await listenUnixDatagram({ path });
  await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.AddrInUse,
    "a live server owns this socket file",
  );
});

Deno.test("serveUnix() on close leaves a newer server's socket at the same path", async () => {
  await using dir = await tempDir();
  const path = dir.file("shared.sock");
  const older = await serveUnix(
    { path },
    (conn) => conn.write(encoder.encode("old")),
  );
  await Deno.remove(path);
  await using _newer = await serveUnix(
    { path },
    (conn) => conn.write(encoder.encode("new")),
  );
  const inode = (await Deno.lstat(path)).ino;
  await older.shutdown();
  assertEquals((await Deno.lstat(path)).ino, inode);
  using conn = await connectUnix(path);
  assertEquals(await new Response(conn.readable).text(), "new");
});

Deno.test("serveUnix() on close leaves a regular file put at its path", async () => {
  await using dir = await tempDir();
  const path = dir.file("replaced.sock");
  const server = await serveUnix({ path }, echo);
  await Deno.remove(path);
  await Deno.writeTextFile(path, "not yours");
  await server.shutdown();
  assertEquals(await Deno.readTextFile(path), "not yours");
});

Deno.test("serveUnix() gives the socket file its mode before anyone can reach it", async () => {
  await using dir = await tempDir();
  for (const mode of [0o600, 0o660, 0o666, 0o700]) {
    const path = dir.file(`mode-${mode.toString(8)}.sock`);
    await using server = await serveUnix({ path, mode }, echo);
    const info = await Deno.stat(path);
    assert(info.isSocket);
    assertEquals(
      (info.mode! & 0o777).toString(8),
      mode.toString(8),
      `mode 0o${mode.toString(8)}`,
    );
    assertEquals(await exchange(server.addr.path, "mode"), "mode");
  }
});

Deno.test("serveUnix() rejects a path longer than sun_path before any system call", async () => {
  await using dir = await tempDir();
  const path = repeatTo(108, dir.path);
  assertEquals(encoder.encode(path).length, 108);
  await assertRejects(
    () => serveUnix({ path }, echo),
    RangeError,
    "options.path is 108 bytes long, but a Unix socket path holds at most 107 (sun_path)",
  );
  assertFalse(await exists(path));
  // Multi-byte characters count as the bytes they take.
  await assertRejects(
    () => serveUnix({ path: `${dir.path}/${"é".repeat(60)}` }, echo),
    RangeError,
    "at most 107",
  );
  await assertRejects(
    () => connectUnix(path),
    RangeError,
    "path is 108 bytes long",
  );
  await assertRejects(
    () => listenUnixDatagram({ path }),
    RangeError,
    "options.path is 108 bytes long",
  );
  await assertRejects(
    () => connectUnixDatagram(path),
    RangeError,
    "path is 108 bytes long",
  );
});

Deno.test("serveUnix() accepts a path whose private bind path fits sun_path", async () => {
  await using dir = await tempDir();
  // DIR/NAME binds first at DIR/.NAME/s: 3 bytes more.
  const path = repeatTo(104, dir.path);
  await using server = await serveUnix({ path }, echo);
  assertEquals(await exchange(server.addr.path, "104"), "104");
  await assertRejects(
    () => serveUnix({ path: repeatTo(105, dir.path) }, echo),
    RangeError,
    "(108 bytes), and a Unix socket path holds at most 107 bytes (sun_path); choose a path of at most 104 bytes",
  );
});

Deno.test("listenUnixDatagram() accepts a path of exactly 107 bytes", async () => {
  await using dir = await tempDir();
  const path = repeatTo(107, dir.path);
  await using socket = await listenUnixDatagram({ path });
  assertEquals(socket.addr.path, path);
  await using client = await connectUnixDatagram(path);
  await client.send(encoder.encode("107"));
  assertEquals(decoder.decode((await socket.receive())[0]), "107");
});

Deno.test("serveUnix() clears a private directory left by a crashed start", async () => {
  await using dir = await tempDir();
  const path = dir.file("restart.sock");
  const leftover = dir.file(".restart.sock");
  await Deno.mkdir(leftover);
  await crashServerAt(`${leftover}/s`, "unix");
  await using server = await serveUnix({ path }, echo);
  assertEquals(await exchange(server.addr.path, "again"), "again");
  assertFalse(await exists(leftover));
});

Deno.test("serveUnix() leaves a foreign file where its private directory goes", async () => {
  await using dir = await tempDir();
  const path = dir.file("blocked.sock");
  const blocker = dir.file(".blocked.sock");
  await Deno.writeTextFile(blocker, "mine");
  await assertRejects(
    () => serveUnix({ path }, echo),
    Deno.errors.AlreadyExists,
    `listen unix ${path}: ${blocker}, where the server binds before its socket is put in place, is in the way and was left untouched`,
  );
  assertEquals(await Deno.readTextFile(blocker), "mine");
  assertFalse(await exists(path));
});

Deno.test({
  name: "serveUnix() names the exact flags for its path and private paths",
  permissions: { read: false, write: false, net: false },
  async fn() {
    await assertRejects(
      () => serveUnix({ path: "/run/app/app.sock" }, echo),
      Deno.errors.NotCapable,
      "listen unix /run/app/app.sock: permission denied; run again with --allow-read=/run/app/app.sock,/run/app/.app.sock --allow-write=/run/app/app.sock,/run/app/.app.sock --allow-net=unix:/run/app/app.sock,unix:/run/app/.app.sock/s",
    );
  },
});

/** A directory for the tests that run with exactly the permissions a function names. */
const grantedDir = await Deno.makeTempDir({ prefix: "unix_test_granted_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(grantedDir, { recursive: true });
});

Deno.test({
  name: "serveUnix() and connectUnix() run with exactly the flags they name",
  permissions: {
    read: [`${grantedDir}/g.sock`, `${grantedDir}/.g.sock`],
    write: [`${grantedDir}/g.sock`, `${grantedDir}/.g.sock`],
    net: [`unix:${grantedDir}/g.sock`, `unix:${grantedDir}/.g.sock/s`],
  },
  async fn() {
    const path = `${grantedDir}/g.sock`;
    await using _server = await serveUnix({ path, mode: 0o600 }, echo);
    assertEquals(await exchange(path, "least privilege"), "least privilege");
  },
});

Deno.test({
  name:
    "connectUnix() names the --allow-read, --allow-write and --allow-net flags for the path",
  permissions: { read: false, write: false, net: false },
  async fn() {
    await assertRejects(
      () => connectUnix("/run/app/app.sock"),
      Deno.errors.NotCapable,
      "connect unix /run/app/app.sock: permission denied; run again with --allow-read=/run/app/app.sock --allow-write=/run/app/app.sock --allow-net=unix:/run/app/app.sock",
    );
  },
});

Deno.test({
  name: "listenUnixDatagram() names only the missing permission flag",
  permissions: {
    read: ["/run/app/dgram.sock"],
    write: false,
    net: ["unix:/run/app/dgram.sock"],
  },
  async fn() {
    await assertRejects(
      () => listenUnixDatagram({ path: "/run/app/dgram.sock" }),
      Deno.errors.NotCapable,
      "listen unixpacket /run/app/dgram.sock: permission denied; run again with --allow-write=/run/app/dgram.sock",
    );
  },
});

Deno.test("serveUnix() validates its arguments", async () => {
  await using dir = await tempDir();
  const path = dir.file("v.sock");
  await assertRejects(
    // @ts-expect-error: no options
    () => serveUnix(undefined, echo),
    TypeError,
    'options must be an object with a path, such as { path: "/tmp/app.sock" }',
  );
  await assertRejects(
    // @ts-expect-error: no path
    () => serveUnix({}, echo),
    TypeError,
    "options.path must be a socket file path",
  );
  await assertRejects(
    () => serveUnix({ path: "" }, echo),
    RangeError,
    "options.path must not be empty",
  );
  await assertRejects(
    () => serveUnix({ path, mode: 0o1777 }, echo),
    RangeError,
    "options.mode must be permission bits from 0o000 to 0o777 such as 0o600, got 0o1777",
  );
  await assertRejects(
    // @ts-expect-error: a string mode
    () => serveUnix({ path, mode: "600" }, echo),
    TypeError,
    'options.mode must be a number of permission bits such as 0o600, got "600"',
  );
  await assertRejects(
    // @ts-expect-error: not a boolean
    () => serveUnix({ path, removeStale: "yes" }, echo),
    TypeError,
    'options.removeStale must be true or false, got "yes"',
  );
  await assertRejects(
    // @ts-expect-error: no handler
    () => serveUnix({ path }),
    TypeError,
    "handler must be a function",
  );
  await assertRejects(
    () => serveUnix({ path, maxConnections: 0 }, echo),
    RangeError,
    "options.maxConnections",
  );
  assertFalse(await exists(path), "a rejected server leaves no file");
});

Deno.test("serveUnix() with maxConnections: 1 serves one client at a time", async () => {
  await using dir = await tempDir();
  const path = dir.file("iterative.sock");
  await using server = await serveUnix({ path, maxConnections: 1 }, echo);
  using first = await connectUnix(path);
  await first.write(encoder.encode("1"));
  const reply = new Uint8Array(1);
  await first.read(reply);
  using second = await connectUnix(path);
  await second.write(encoder.encode("2"));
  // The second client waits in the backlog while the first is served.
  assertEquals(server.connections, 1);
  first.close();
  assertEquals(await second.read(reply), 1);
  assertEquals(decoder.decode(reply), "2");
});

Deno.test("serveUnix() closes connections after idleTimeout", async () => {
  await using dir = await tempDir();
  const path = dir.file("idle.sock");
  await using _server = await serveUnix({ path, idleTimeout: 50 }, echo);
  using conn = await connectUnix(path);
  assertEquals(await conn.read(new Uint8Array(1)), null);
});

Deno.test("serveUnix() shuts down on abort and removes its file", async () => {
  await using dir = await tempDir();
  const path = dir.file("abort.sock");
  const controller = new AbortController();
  let listened: Deno.Addr | undefined;
  const server = await serveUnix({
    path,
    signal: controller.signal,
    onListen: (addr) => listened = addr,
  }, echo);
  assertEquals(listened, { transport: "unix", path });
  controller.abort();
  await server.finished;
  assertFalse(await exists(path));
});

Deno.test("serveUnix() reports handler errors to onError and force-closes after shutdownTimeout", async () => {
  await using dir = await tempDir();
  const path = dir.file("errors.sock");
  const errors: unknown[] = [];
  const { promise: handled, resolve } = Promise.withResolvers<void>();
  const server = await serveUnix({
    path,
    shutdownTimeout: 20,
    onError: (error) => {
      errors.push(error);
      resolve();
    },
  }, async (conn) => {
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    if (decoder.decode(buffer.subarray(0, n ?? 0)) === "fail") {
      throw new Error("handler failed");
    }
    await conn.read(buffer); // Hangs until the shutdown closes the connection.
  });
  using failing = await connectUnix(path);
  await failing.write(encoder.encode("fail"));
  await handled;
  assertEquals((errors[0] as Error).message, "handler failed");
  using hanging = await connectUnix(path);
  await hanging.write(encoder.encode("hang"));
  while (server.connections < 1) await new Promise((r) => setTimeout(r, 5));
  await server.shutdown();
  assertEquals(await hanging.read(new Uint8Array(1)), null);
  assertEquals(errors.length, 1);
});

Deno.test("connectUnix() explains a missing file and a stale one", async () => {
  await using dir = await tempDir();
  await assertRejects(
    () => connectUnix(dir.file("none.sock")),
    Deno.errors.NotFound,
    `connect unix ${dir.file("none.sock")}: no socket file at this path`,
  );
  const stale = dir.file("stale.sock");
  await crashServerAt(stale, "unix");
  const error = await assertRejects(
    () => connectUnix(stale),
    Deno.errors.ConnectionRefused,
    `connect unix ${stale}: connection refused; no server is bound to this socket file`,
  );
  assertInstanceOf(error.cause, Deno.errors.ConnectionRefused);
});

Deno.test("connectUnix() rejects with the signal's reason", async () => {
  await using dir = await tempDir();
  const path = dir.file("s.sock");
  await using _server = await serveUnix({ path }, echo);
  const controller = new AbortController();
  const reason = new Error("stop");
  controller.abort(reason);
  const error = await assertRejects(() =>
    connectUnix(path, { signal: controller.signal })
  );
  assertEquals(error, reason);
  await assertRejects(
    // @ts-expect-error: a string timeout
    () => connectUnix(path, { timeout: "1s" }),
    TypeError,
    'options.timeout must be a number of milliseconds, got "1s"',
  );
});

Deno.test("connectUnix() names the server by the path it was given", async () => {
  await using dir = await tempDir();
  const path = dir.file("named.sock");
  await using _server = await serveUnix({ path }, echo);
  using conn = await connectUnix(path, { timeout: TEST_TIMEOUT_MS });
  assertEquals(conn.remoteAddr, { transport: "unix", path });
});

Deno.test("listenUnixDatagram() and connectUnixDatagram() exchange datagrams", async () => {
  await using dir = await tempDir();
  const path = dir.file("dgram.sock");
  await using server = await listenUnixDatagram({ path });
  assertEquals(server.addr.path, path);
  await using client = await connectUnixDatagram(path);
  assertEquals(client.remoteAddr, { transport: "unixpacket", path });
  for (const text of ["one", "two", "three"]) {
    await client.send(encoder.encode(text));
    const [data, from] = await server.receive();
    assertEquals(decoder.decode(data), text);
    assertEquals(from, client.addr.path);
    await server.send(encoder.encode(text.toUpperCase()), from!);
    assertEquals(decoder.decode(await client.receive()), text.toUpperCase());
  }
  // The client's private directory is only the owner's.
  const privateDir = client.addr.path.slice(
    0,
    client.addr.path.lastIndexOf("/"),
  );
  assertEquals((await Deno.stat(privateDir)).mode! & 0o777, 0o700);
});

Deno.test("connectUnixDatagram() with localPath binds there, replacing a stale file, and removes it on close", async () => {
  await using dir = await tempDir();
  await using server = await listenUnixDatagram({ path: dir.file("srv.sock") });
  const localPath = dir.file("client.sock");
  // A crashed client's socket file, which no one answers.
  Deno.listenDatagram({ transport: "unixpacket", path: localPath }).close();
  assert(await exists(localPath));
  const client = await connectUnixDatagram(server.addr.path, { localPath });
  assertEquals(client.addr.path, localPath);
  await client.send(encoder.encode("bound"));
  const [data, from] = await server.receive();
  assertEquals([decoder.decode(data), from], ["bound", localPath]);
  await server.send(encoder.encode("answer"), from!);
  assertEquals(decoder.decode(await client.receive()), "answer");
  client.close();
  assertFalse(await exists(localPath));
  await assertRejects(
    () => connectUnixDatagram(server.addr.path, { localPath, dir: dir.path }),
    TypeError,
    "pass one of them",
  );
  await Deno.writeTextFile(localPath, "not a socket");
  await assertRejects(
    () => connectUnixDatagram(server.addr.path, { localPath }),
    Deno.errors.AlreadyExists,
    "left untouched",
  );
  assertEquals(await Deno.readTextFile(localPath), "not a socket");
});

Deno.test("listenUnixDatagram() keeps datagrams whole up to maxDatagramSize", async () => {
  await using dir = await tempDir();
  await using server = await listenUnixDatagram({ path: dir.file("big.sock") });
  await using client = await connectUnixDatagram(server.addr.path);
  const big = new Uint8Array(60_000).map((_, i) => i % 251);
  await client.send(big);
  const [data] = await server.receive();
  assertEquals(data, big);
  await using small = await listenUnixDatagram({
    path: dir.file("small.sock"),
    maxDatagramSize: 4,
  });
  await client.send(encoder.encode("abcdefgh"));
  // Sent to the first server; the small one gets its own datagram.
  await server.receive();
  await server.send(encoder.encode("abcdefgh"), small.addr.path);
  assertEquals(decoder.decode((await small.receive())[0]), "abcd");
});

Deno.test("listenUnixDatagram() iterates until closed and removes its file", async () => {
  await using dir = await tempDir();
  const path = dir.file("iter.sock");
  const server = await listenUnixDatagram({ path });
  const client = await connectUnixDatagram(path);
  const clientPath = client.addr.path;
  const clientDir = clientPath.slice(0, clientPath.lastIndexOf("/"));
  for (const text of ["a", "b", "c"]) await client.send(encoder.encode(text));
  const received: string[] = [];
  for await (const [data] of server) {
    received.push(decoder.decode(data));
    if (received.length === 3) server.close();
  }
  assertEquals(received, ["a", "b", "c"]);
  assertFalse(await exists(path));
  server.close();
  client.close();
  client.close();
  assertFalse(await exists(clientPath));
  assertFalse(await exists(clientDir));
});

Deno.test("listenUnixDatagram() replaces a stale file and refuses a live or foreign one", async () => {
  await using dir = await tempDir();
  const path = dir.file("d.sock");
  await crashServerAt(path, "unixpacket");
  await using server = await listenUnixDatagram({ path });
  await assertRejects(
    () => listenUnixDatagram({ path }),
    Deno.errors.AddrInUse,
    `listen unixpacket ${path}: a live server owns this socket file`,
  );
  const file = dir.file("file.txt");
  await Deno.writeTextFile(file, "keep");
  await assertRejects(
    () => listenUnixDatagram({ path: file }),
    Deno.errors.AlreadyExists,
    "the path is a regular file, not a socket",
  );
  assertEquals(await Deno.readTextFile(file), "keep");
  assertEquals(server.addr.path, path);
});

Deno.test("listenUnixDatagram() on close leaves a newer socket at the same path", async () => {
  await using dir = await tempDir();
  const path = dir.file("d.sock");
  const older = await listenUnixDatagram({ path });
  await Deno.remove(path);
  await using _newer = await listenUnixDatagram({ path });
  const inode = (await Deno.lstat(path)).ino;
  older.close();
  assertEquals((await Deno.lstat(path)).ino, inode);
});

Deno.test("UnixDatagramSocket.send() explains a missing receiver", async () => {
  await using dir = await tempDir();
  await using server = await listenUnixDatagram({ path: dir.file("s.sock") });
  const missing = dir.file("missing.sock");
  await assertRejects(
    () => server.send(encoder.encode("x"), missing),
    Deno.errors.NotFound,
    `send unixpacket ${missing}: no socket file at this path`,
  );
});

Deno.test("listenUnixDatagram() names --unstable-net when the API is missing", async () => {
  const module = new URL("../unix.ts", import.meta.url).href;
  const script = `
    import { listenUnixDatagram } from ${JSON.stringify(module)};
    try {
      await listenUnixDatagram({ path: "/tmp/x.sock" });
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }
  `;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  assertEquals(
    decoder.decode(stdout).trim(),
    "NotSupported: listen unixpacket /tmp/x.sock: Unix datagram sockets need Deno's unstable net API; run again with --unstable-net",
  );
});

// Peers no one here wrote.

/** Python's AF_UNIX stream client: sends argv[2], half-closes, prints the reply. */
const PYTHON_STREAM_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
chunks = []
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    chunks.append(chunk)
sys.stdout.write(b"".join(chunks).decode())
`;

/** Python's AF_UNIX datagram client, bound at argv[2]: sends argv[3], prints the reply. */
const PYTHON_DATAGRAM_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(sys.argv[2])
s.sendto(sys.argv[3].encode(), sys.argv[1])
data, sender = s.recvfrom(65536)
s.close()
sys.stdout.write(data.decode() + "\\n" + sender)
`;

/** Python's unbound AF_UNIX datagram sender. */
const PYTHON_UNBOUND_SENDER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(sys.argv[2].encode(), sys.argv[1])
`;

async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(code, 0, decoder.decode(stderr));
  return decoder.decode(stdout);
}

Deno.test({
  name: "serveUnix() echoes to Python's socket module",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir();
    const path = dir.file("py.sock");
    await using _server = await serveUnix({ path, mode: 0o600 }, echo);
    assertEquals(
      await run("python3", ["-c", PYTHON_STREAM_CLIENT, path, "from python"]),
      "from python",
    );
  },
});

Deno.test({
  name: "connectUnix() talks to a Python AF_UNIX server",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir();
    const path = dir.file("pyserver.sock");
    const server = new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
print("ready", flush=True)
conn, _ = s.accept()
data = b""
while True:
    chunk = conn.recv(100)
    if not chunk:
        break
    data += chunk
conn.sendall(data.upper())
conn.close()
`,
        path,
      ],
      stdout: "piped",
    }).spawn();
    // Wait for "ready", and keep reading to the end: a pipe closed early would
    // kill the server with EPIPE on its next write.
    const reader = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let output = "";
    while (!output.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
    }
    const rest = (async () => {
      for (let chunk; !(chunk = await reader.read()).done;) {
        output += chunk.value;
      }
    })();
    using conn = await connectUnix(path, { timeout: TEST_TIMEOUT_MS });
    await conn.write(encoder.encode("shout"));
    await conn.closeWrite();
    assertEquals(await new Response(conn.readable).text(), "SHOUT");
    assert((await server.status).success);
    await rest;
    assertEquals(output, "ready\n");
  },
});

Deno.test({
  name:
    "listenUnixDatagram() answers Python bound and unbound datagram senders",
  ignore: pythonMissing,
  async fn() {
    await using dir = await tempDir();
    const path = dir.file("pydgram.sock");
    await using server = await listenUnixDatagram({ path });
    const clientPath = dir.file("pyclient.sock");
    const replying = (async () => {
      const [data, from] = await server.receive();
      assertEquals(from, clientPath);
      await server.send(
        encoder.encode(decoder.decode(data).toUpperCase()),
        from!,
      );
    })();
    const output = await run("python3", [
      "-c",
      PYTHON_DATAGRAM_CLIENT,
      path,
      clientPath,
      "datagram",
    ]);
    await replying;
    assertEquals(output, `DATAGRAM\n${path}`);

    await run("python3", ["-c", PYTHON_UNBOUND_SENDER, path, "anonymous"]);
    const [data, from] = await server.receive();
    assertEquals(decoder.decode(data), "anonymous");
    assertEquals(from, null);
  },
});

const socatMissing = await isMissing("socat");

Deno.test({
  name: "serveUnix() echoes to socat UNIX-CONNECT",
  ignore: socatMissing,
  async fn() {
    await using dir = await tempDir();
    const path = dir.file("socat.sock");
    await using _server = await serveUnix({ path }, echo);
    const child = new Deno.Command("socat", {
      args: ["-t", "5", "-", `UNIX-CONNECT:${path}`],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("through socat"));
    await writer.close();
    const { code, stdout } = await child.output();
    assertEquals(code, 0);
    assertEquals(decoder.decode(stdout), "through socat");
  },
});

Deno.test({
  name: "listenUnixDatagram() receives from socat UNIX-SENDTO",
  ignore: socatMissing,
  async fn() {
    await using dir = await tempDir();
    const path = dir.file("socat-dgram.sock");
    await using server = await listenUnixDatagram({ path });
    const child = new Deno.Command("socat", {
      args: ["-u", "-", `UNIX-SENDTO:${path}`],
      stdin: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("socat datagram"));
    await writer.close();
    assert((await child.status).success);
    const [data] = await server.receive();
    assertEquals(decoder.decode(data), "socat datagram");
  },
});
