/**
 * Tests of `_adopt.ts`. Deno cannot make a raw socket descriptor without
 * FFI, so this file runs twice: the test run starts it again under
 * `tests/fixtures/adopt_launcher.py`, which passes connected and listening
 * sockets to the child as a launcher does, and the child runs the tests
 * below on them.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { adoptConn, adoptListener, descriptorOf } from "../_adopt.ts";
import { copy } from "../io.ts";
import { serve } from "../server.ts";
import {
  delay,
  isMissing,
  readAll,
  waitFor,
  within,
  writeAll,
} from "./_helpers.ts";
import { LARGE_REPLY_BYTES, replyAfterUnreadInput } from "./_lingering.ts";

/** The inherited sockets the launcher describes, in the child only. */
const POOL_VARIABLE = "SOCKETS_NET_ADOPT_POOL";

interface Pool {
  unixPairs: [number, number][];
  tcpPairs: { fds: [number, number]; ports: [number, number] }[];
  tcpListeners: { fd: number; port: number }[];
  unixListeners: { fd: number; path: string }[];
}

const poolText = Deno.env.get(POOL_VARIABLE);

if (poolText === undefined) {
  Deno.test("adoptConn() and adoptListener() pass their tests on inherited sockets", async () => {
    if (await isMissing("python3")) return;
    const root = new URL("../", import.meta.url);
    const { code, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        new URL("tests/fixtures/adopt_launcher.py", root).pathname,
        Deno.execPath(),
        "test",
        "--allow-all",
        "--unstable-net",
        `--import-map=${new URL("import_map.offline.json", root).pathname}`,
        new URL("tests/adopt_test.ts", root).pathname,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const report = decoder.decode(stdout) + decoder.decode(stderr);
    assertEquals(code, 0, report);
    assert(/ok \| [1-9]\d* passed \| 0 failed/.test(report), report);
  });
} else {
  inheritedSocketTests(JSON.parse(poolText));
}

/** How many descriptors this process has open. */
function openDescriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

function inheritedSocketTests(pool: Pool): void {
  const take = <T>(list: T[], what: string): T => {
    const item = list.shift();
    if (item === undefined) {
      throw new Error(`the launcher passed too few ${what}`);
    }
    return item;
  };
  const unixPair = (): [Deno.Conn, Deno.Conn] => {
    const [a, b] = take(pool.unixPairs, "Unix pairs");
    return [adoptConn(a, "unix"), adoptConn(b, "unix")];
  };
  const encoder = new TextEncoder();

  Deno.test("adoptConn() echoes through copy() over an inherited Unix pair", async () => {
    const [a, b] = unixPair();
    using _a = a;
    using _b = b;
    // The echo ends with the input: the peer then reads the end.
    const echoed = copy(a, a).then(async (n) => {
      await a.closeWrite();
      return n;
    });
    await writeAll(b, "hello through an adopted pair\n".repeat(1000));
    await b.closeWrite();
    assertEquals(
      await readAll(b),
      "hello through an adopted pair\n".repeat(1000),
    );
    assertEquals(await echoed, 30 * 1000);
  });

  Deno.test("adoptConn() half-closes: the peer reads the end, then still writes", async () => {
    const [a, b] = unixPair();
    using _a = a;
    using _b = b;
    await writeAll(a, "question");
    await a.closeWrite();
    assertEquals(await readAll(b), "question");
    await writeAll(b, "answer");
    await b.closeWrite();
    assertEquals(await readAll(a), "answer");
    await assertRejects(
      () => a.write(encoder.encode("late")),
      Deno.errors.BrokenPipe,
    );
  });

  Deno.test("adoptConn() closes like a native conn: twice throws, reads after close and pending ones reject", async () => {
    const [a, b] = unixPair();
    using _b = b;
    const pending = a.read(new Uint8Array(16));
    a.close();
    await assertRejects(() => pending, Deno.errors.Interrupted);
    assertThrows(() => a.close(), Deno.errors.BadResource);
    await assertRejects(
      () => a.read(new Uint8Array(1)),
      Deno.errors.BadResource,
    );
    await assertRejects(
      () => a.write(encoder.encode("x")),
      Deno.errors.BadResource,
    );
    await assertRejects(() => a.closeWrite(), Deno.errors.BadResource);
    // The peer sees the descriptor closed.
    assertEquals(await within(b.read(new Uint8Array(1)), "the end"), null);
  });

  Deno.test("adoptConn() closes its descriptor exactly once", async () => {
    const before = openDescriptors();
    const [a, b] = unixPair();
    const fds = [descriptorOf(a)!, descriptorOf(b)!];
    await writeAll(a, "x");
    assertEquals(await b.read(new Uint8Array(1)), 1);
    a.close();
    b.close();
    await waitFor(
      () => openDescriptors() === before - 2,
      "both descriptors to be closed",
    );
    for (const fd of fds) {
      await assertRejects(
        () => Deno.lstat(`/proc/self/fd/${fd}`),
        Deno.errors.NotFound,
      );
    }
    await delay(20);
    assertEquals(openDescriptors(), before - 2);
  });

  Deno.test("adoptConn() streams: readable ends and closes, writable writes", async () => {
    const [a, b] = unixPair();
    using _b = b;
    const writer = a.writable.getWriter();
    await writer.write(encoder.encode("through the streams"));
    await b.closeWrite();
    const chunks: string[] = [];
    for await (const chunk of a.readable) {
      chunks.push(new TextDecoder().decode(chunk));
    }
    assertEquals(chunks.join(""), "");
    assertEquals(await readAll(b), "through the streams");
    // The readable's end closed the conn, as Deno's own does.
    assertThrows(() => a.close(), Deno.errors.BadResource);
  });

  Deno.test("adoptConn() gives a TCP conn its addresses and socket options", () => {
    const { fds, ports } = take(pool.tcpPairs, "TCP pairs");
    using a = adoptConn(fds[0], "tcp") as Deno.TcpConn;
    using b = adoptConn(fds[1], "tcp") as Deno.TcpConn;
    assertEquals(a.localAddr, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: ports[0],
    });
    assertEquals(a.remoteAddr, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: ports[1],
    });
    assertEquals(b.remoteAddr, a.localAddr);
    a.setNoDelay(true);
    a.setKeepAlive(true);
    a.unref();
    a.ref();
    assertEquals(descriptorOf(a), fds[0]);
  });

  Deno.test("adoptListener() serves an inherited TCP socket with serve(), lingering close included", async () => {
    const { fd, port } = take(pool.tcpListeners, "TCP listeners");
    const listener = adoptListener(fd, "tcp");
    assertEquals(listener.addr, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port,
    });
    assertEquals(descriptorOf(listener), fd);
    const received = await replyAfterUnreadInput(
      listener,
      (addr) => Deno.connect({ port: (addr as Deno.NetAddr).port }),
    );
    assertEquals(received, LARGE_REPLY_BYTES);
  });

  Deno.test("adoptListener() serves an inherited Unix socket; its conns have descriptors", async () => {
    const { fd, path } = take(pool.unixListeners, "Unix listeners");
    const listener = adoptListener(fd, "unix");
    assertEquals(listener.addr.transport, "unix");
    const descriptors: (number | undefined)[] = [];
    {
      await using server = serve(listener, async (conn) => {
        descriptors.push(descriptorOf(conn));
        await copy(conn, conn);
      });
      using client = await Deno.connect({ transport: "unix", path });
      await writeAll(client, "over an inherited Unix listener");
      await client.closeWrite();
      assertEquals(await readAll(client), "over an inherited Unix listener");
      assertEquals(server.addr.transport, "unix");
    }
    assertEquals(descriptors.length, 1);
    assertEquals(typeof descriptors[0], "number");
  });

  Deno.test("adoptListener() closes like a native listener: pending and later accepts reject, iteration ends", async () => {
    const { fd } = take(pool.tcpListeners, "TCP listeners");
    const listener = adoptListener(fd, "tcp");
    const pending = listener.accept();
    const iterated = (async () => {
      let n = 0;
      for await (const conn of listener) {
        conn.close();
        n++;
      }
      return n;
    })();
    const before = openDescriptors();
    listener.close();
    await assertRejects(() => pending, Deno.errors.BadResource);
    await assertRejects(() => listener.accept(), Deno.errors.BadResource);
    assertThrows(() => listener.close(), Deno.errors.BadResource);
    assertEquals(await iterated, 0);
    await waitFor(
      () => openDescriptors() === before - 1,
      "the listener's descriptor to be closed",
    );
    await assertRejects(
      () =>
        Deno.connect({
          hostname: "127.0.0.1",
          port: (listener.addr as Deno.NetAddr).port,
        }),
      Deno.errors.ConnectionRefused,
    );
  });

  Deno.test("adoptListener() accepts conns that close their descriptors exactly once", async () => {
    const { fd, port } = take(pool.tcpListeners, "TCP listeners");
    using listener = adoptListener(fd, "tcp");
    const before = openDescriptors();
    for (let i = 0; i < 5; i++) {
      using client = await Deno.connect({ hostname: "127.0.0.1", port });
      const conn = await within(listener.accept(), "an accepted conn");
      assertEquals(conn.remoteAddr, client.localAddr);
      await writeAll(conn, "hi");
      conn.close();
      assertEquals(await readAll(client), "hi");
    }
    await waitFor(
      () => openDescriptors() === before,
      "the accepted descriptors to be closed",
    );
  });

  Deno.test("descriptorOf() is undefined for a native conn", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using conn = await Deno.connect({ port: listener.addr.port });
    using _accepted = await listener.accept();
    assertEquals(descriptorOf(conn), undefined);
    assertEquals(descriptorOf(listener), undefined);
  });

  Deno.test("adoptConn() and adoptListener() refuse a bad descriptor or transport", () => {
    assertThrows(() => adoptConn(-1, "unix"), TypeError, "got -1");
    assertThrows(() => adoptConn(1.5, "tcp"), TypeError, "got 1.5");
    assertThrows(
      () => adoptListener(3, "udp" as "tcp"),
      TypeError,
      'transport must be "tcp" or "unix", got "udp"',
    );
  });
}
