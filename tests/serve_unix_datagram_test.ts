import {
  assert,
  assertEquals,
  assertFalse,
  assertInstanceOf,
  assertRejects,
} from "@std/assert";
import { connectUnixDatagram, serveUnixDatagram } from "../unix.ts";
import {
  crashServerAt,
  exists,
  isMissing,
  tempDir,
  waitFor,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("serveUnixDatagram() echoes to each sender at its path", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("echo.sock");
  const senders: Deno.UnixAddr[] = [];
  await using server = await serveUnixDatagram({ path }, (data, from) => {
    senders.push(from);
    return data;
  });
  assertEquals(server.addr, { transport: "unixpacket", path });
  assert((await Deno.lstat(path)).isSocket);
  await using client = await connectUnixDatagram(path);
  for (const text of ["one", "two", "three"]) {
    await client.send(encoder.encode(text));
    assertEquals(decoder.decode(await client.receive()), text);
  }
  assertEquals(senders.map((from) => from.path), [
    client.addr.path,
    client.addr.path,
    client.addr.path,
  ]);
});

Deno.test("serveUnixDatagram() removes its socket file when it shuts down, and leaves a newer one", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("s.sock");
  const server = await serveUnixDatagram({ path }, (data) => data);
  assert(await exists(path));
  await server.shutdown();
  assertFalse(await exists(path));

  const older = await serveUnixDatagram({ path }, () => {});
  await Deno.remove(path);
  await using _newer = await serveUnixDatagram({ path }, () => {});
  const inode = (await Deno.lstat(path)).ino;
  await older.shutdown();
  assertEquals((await Deno.lstat(path)).ino, inode);
});

Deno.test("serveUnixDatagram() does not call onListen once its signal has aborted, and cleans up", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("aborted.sock");
  const controller = new AbortController();
  controller.abort();
  let listened = false;
  const server = await serveUnixDatagram({
    path,
    signal: controller.signal,
    onListen: () => listened = true,
  }, (data) => data);
  await server.finished;
  assertEquals(listened, false);
  assertFalse(await exists(path));
});

Deno.test("serveUnixDatagram() calls onListen with its path and stops on abort", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("abort.sock");
  const controller = new AbortController();
  let listened: Deno.Addr | undefined;
  const server = await serveUnixDatagram({
    path,
    signal: controller.signal,
    onListen: (addr) => listened = addr,
  }, (data) => data);
  assertEquals(listened, { transport: "unixpacket", path });
  controller.abort();
  await server.finished;
  assertFalse(await exists(path));
});

Deno.test("serveUnixDatagram() gives the socket file its mode and still answers", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("mode.sock");
  await using server = await serveUnixDatagram(
    { path, mode: 0o600 },
    (data) => data,
  );
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  assertEquals(server.addr.path, path);
  // Only the socket is left in the directory: the private one is gone.
  const names = [];
  for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
  assertEquals(names, ["mode.sock"]);
  await using client = await connectUnixDatagram(path);
  await client.send(encoder.encode("private"));
  assertEquals(decoder.decode(await client.receive()), "private");
});

Deno.test("serveUnixDatagram() replaces a stale socket file and refuses a live one", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("stale.sock");
  await crashServerAt(path, "unixpacket");
  await using _server = await serveUnixDatagram({ path }, (data) => data);
  await assertRejects(
    () => serveUnixDatagram({ path }, (data) => data),
    Deno.errors.AddrInUse,
    `listen unixpacket ${path}: a live server owns this socket file`,
  );
});

Deno.test({
  name: "serveUnixDatagram() reports a reply to a sender bound to no path",
  ignore: await isMissing("python3"),
}, async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("unbound.sock");
  const errors: unknown[] = [];
  const froms: Deno.UnixAddr[] = [];
  await using _server = await serveUnixDatagram({
    path,
    onError: (error) => errors.push(error),
  }, (data, from) => {
    froms.push(from);
    return data;
  });
  const { success } = await new Deno.Command("python3", {
    args: [
      "-c",
      `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"anonymous", sys.argv[1])`,
      path,
    ],
  }).output();
  assert(success);
  await waitFor(() => errors.length === 1, "the reported reply");
  assertEquals(froms, [{ transport: "unixpacket", path: "" }]);
  assertInstanceOf(errors[0], Deno.errors.NotConnected);
});

Deno.test("serveUnixDatagram() names a missing directory and says to create it", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const missing = dir.file("run/app");
  for (const mode of [undefined, 0o600]) {
    const path = `${missing}/echo.sock`;
    const error = await assertRejects(
      () => serveUnixDatagram({ path, mode }, (data) => data),
      Deno.errors.NotFound,
      `listen unixpacket ${path}: the directory ${missing} does not exist; create it first (mkdir -p ${missing})`,
    );
    assertFalse(error.message.includes(".echo.sock"), error.message);
  }
});

Deno.test("serveUnixDatagram() validates its arguments and option names", async () => {
  await using dir = await tempDir("serve_unix_datagram_test_");
  const path = dir.file("v.sock");
  await assertRejects(
    // @ts-expect-error: a misspelled option
    () => serveUnixDatagram({ path, maxConcurency: 1 }, (data) => data),
    TypeError,
    "options.maxConcurency is not an option; did you mean options.maxConcurrency?",
  );
  await assertRejects(
    // @ts-expect-error: a misspelled option
    () => serveUnixDatagram({ path, removeStail: true }, (data) => data),
    TypeError,
    "did you mean options.removeStale?",
  );
  await assertRejects(
    // @ts-expect-error: no handler
    () => serveUnixDatagram({ path }),
    TypeError,
    "handler must be a function",
  );
  await assertRejects(
    () => serveUnixDatagram({ path, mode: 0o1777 }, (data) => data),
    RangeError,
    "options.mode must be permission bits",
  );
  await assertRejects(
    () => serveUnixDatagram({ path, shutdownTimeout: -1 }, (data) => data),
    RangeError,
    "options.shutdownTimeout",
  );
  assertFalse(await exists(path), "a rejected server leaves no file");
});

const socatMissing = await isMissing("socat");

Deno.test({
  name: "serveUnixDatagram() answers socat UNIX-SENDTO bound to a path",
  ignore: socatMissing,
  async fn() {
    await using dir = await tempDir("serve_unix_datagram_test_");
    const path = dir.file("socat.sock");
    const clientPath = dir.file("socat-client.sock");
    await using _server = await serveUnixDatagram(
      { path },
      (data) => encoder.encode(decoder.decode(data).toUpperCase()),
    );
    const child = new Deno.Command("socat", {
      args: [
        "-t",
        "2",
        "-T",
        "5",
        "-",
        `UNIX-SENDTO:${path},bind=${clientPath}`,
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("from socat"));
    await writer.close();
    const { code, stdout } = await child.output();
    assertEquals(code, 0);
    assertEquals(decoder.decode(stdout), "FROM SOCAT");
  },
});
