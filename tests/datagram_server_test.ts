import {
  assertEquals,
  assertInstanceOf,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { serveDatagrams } from "../datagram_server.ts";
import { tempDir, waitFor, within } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bindUdp(): Deno.DatagramConn {
  return Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
}

/** Sends `text` from a fresh socket to `to` and returns the answer. */
async function ask(to: Deno.Addr, text: string): Promise<string> {
  const client = bindUdp();
  try {
    await client.send(encoder.encode(text), to);
    const [answer] = await within(client.receive(), "the answer");
    return decoder.decode(answer);
  } finally {
    client.close();
  }
}

Deno.test("serveDatagrams() answers each datagram with the handler's reply", async () => {
  await using server = serveDatagrams(
    bindUdp(),
    (data) => encoder.encode(decoder.decode(data).toUpperCase()),
  );
  assertEquals(await ask(server.addr, "ping"), "PING");
  assertEquals(await ask(server.addr, "again"), "AGAIN");
});

Deno.test("serveDatagrams() serves a Unix datagram socket the same way", async () => {
  await using dir = await tempDir("datagram-server-");
  const path = `${dir.path}/server.sock`;
  const socket = Deno.listenDatagram({ transport: "unixpacket", path });
  await using server = serveDatagrams<Deno.UnixAddr>(
    socket,
    (data, from) => encoder.encode(`${decoder.decode(data)} from ${from.path}`),
  );
  const clientPath = `${dir.path}/client.sock`;
  const client = Deno.listenDatagram({
    transport: "unixpacket",
    path: clientPath,
  });
  try {
    await client.send(encoder.encode("hi"), server.addr);
    const [answer] = await within(client.receive(), "the answer");
    assertEquals(decoder.decode(answer), `hi from ${clientPath}`);
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() does not call onListen when its signal is already aborted", async () => {
  let listened = false;
  const server = serveDatagrams(bindUdp(), (data) => data, {
    signal: AbortSignal.abort(),
    onListen: () => listened = true,
  });
  await within(server.finished, "the server to finish");
  assertEquals(listened, false);
});

Deno.test("serveDatagrams() reports a failing handler with its sender and keeps serving", async () => {
  const errors: [unknown, Deno.Addr | undefined][] = [];
  await using server = serveDatagrams(bindUdp(), (data) => {
    if (decoder.decode(data) === "fail") throw new Error("handler failed");
    return data;
  }, { onError: (error, from) => errors.push([error, from]) });
  const client = bindUdp();
  try {
    await client.send(encoder.encode("fail"), server.addr);
    await client.send(encoder.encode("ok"), server.addr);
    const [answer] = await within(client.receive(), "the answer");
    assertEquals(decoder.decode(answer), "ok");
    assertEquals(errors.length, 1);
    assertInstanceOf(errors[0][0], Error);
    assertEquals(errors[0][1], client.addr);
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() with shutdownTimeout Infinity waits for a slow handler's reply", async () => {
  const { promise: started, resolve: start } = Promise.withResolvers<void>();
  const { promise: release, resolve: finish } = Promise.withResolvers<void>();
  const server = serveDatagrams(bindUdp(), async (data) => {
    start();
    await release;
    return data;
  }, { shutdownTimeout: Infinity });
  const client = bindUdp();
  try {
    await client.send(encoder.encode("late"), server.addr);
    await within(started, "the handler to start");
    const stopped = server.shutdown();
    finish();
    const [answer] = await within(client.receive(), "the late answer");
    assertEquals(decoder.decode(answer), "late");
    await within(stopped, "the shutdown");
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() aborts the context signal of handlers still running when shutdownTimeout passes", async () => {
  const { promise: running, resolve: run } = Promise.withResolvers<
    AbortSignal
  >();
  const server = serveDatagrams(bindUdp(), (_data, _from, { signal }) => {
    run(signal);
    return new Promise<undefined>((resolve) =>
      signal.addEventListener("abort", () => resolve(undefined))
    );
  }, { shutdownTimeout: 10 });
  const client = bindUdp();
  try {
    await client.send(encoder.encode("stuck"), server.addr);
    const signal = await within(running, "the handler to start");
    assertEquals(signal.aborted, false);
    await within(server.shutdown(), "the shutdown");
    assertInstanceOf(signal.reason, Deno.errors.Interrupted);
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() with maxConcurrency 1 runs one handler at a time", async () => {
  let running = 0;
  let most = 0;
  await using server = serveDatagrams(bindUdp(), async (data) => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 1));
    running--;
    return data;
  }, { maxConcurrency: 1 });
  const client = bindUdp();
  try {
    for (let i = 0; i < 8; i++) {
      await client.send(encoder.encode(`${i}`), server.addr);
    }
    for (let i = 0; i < 8; i++) {
      await within(client.receive(), `answer ${i}`);
    }
    assertEquals(most, 1);
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() rejects bad arguments, naming the option and the fix", () => {
  const udp = bindUdp();
  try {
    assertThrows(
      // deno-lint-ignore no-explicit-any
      () => serveDatagrams({} as any, () => {}),
      TypeError,
      "Deno.DatagramConn",
    );
    const typo = assertThrows(
      () =>
        serveDatagrams(udp, () => {}, {
          maxConcurency: 2,
        } as Record<string, unknown>),
      TypeError,
    );
    assertStringIncludes(typo.message, "options.maxConcurency");
    assertStringIncludes(typo.message, "did you mean options.maxConcurrency");
    assertThrows(
      () => serveDatagrams(udp, () => {}, { maxConcurrency: Infinity }),
      RangeError,
      "must be finite",
    );
    assertThrows(
      () => serveDatagrams(udp, () => {}, { shutdownTimeout: -1 }),
      RangeError,
      "options.shutdownTimeout",
    );
  } finally {
    udp.close();
  }
});

Deno.test("serveDatagrams() drops the late reply of a handler given up at handlerTimeout", async () => {
  let lateReplied = false;
  const errors: unknown[] = [];
  await using server = serveDatagrams(
    bindUdp(),
    async (data, _from, { signal }) => {
      if (decoder.decode(data) !== "slow") return data;
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
      lateReplied = true;
      return encoder.encode("late");
    },
    { handlerTimeout: 20, onError: (error) => errors.push(error) },
  );
  const client = bindUdp();
  try {
    await client.send(encoder.encode("slow"), server.addr);
    await waitFor(() => lateReplied, "the handler to reply after its timeout");
    await client.send(encoder.encode("fast"), server.addr);
    const [answer] = await within(client.receive(), "the answer");
    assertEquals(decoder.decode(answer), "fast");
    assertEquals(server.timedOut, 1);
    assertEquals(errors.length, 1);
    assertInstanceOf(errors[0], Deno.errors.TimedOut);
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() with handlerTimeout Infinity waits for a slow handler", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serveDatagrams(bindUdp(), async (data) => {
    await release.promise;
    return data;
  }, { handlerTimeout: Infinity });
  const client = bindUdp();
  try {
    await client.send(encoder.encode("slow"), server.addr);
    await waitFor(() => server.busy === 1, "the handler to run");
    release.resolve();
    const [answer] = await within(client.receive(), "the answer");
    assertEquals(decoder.decode(answer), "slow");
    assertEquals(server.timedOut, 0);
  } finally {
    client.close();
  }
});

Deno.test("serveDatagrams() rejects a handlerTimeout that is not a positive number of milliseconds", () => {
  for (
    const [value, errorClass] of [[0, RangeError], [-1, RangeError], [
      "5",
      TypeError,
    ]] as const
  ) {
    const socket = bindUdp();
    try {
      const error = assertThrows(
        () =>
          serveDatagrams(socket, () => {}, { handlerTimeout: value as number }),
        errorClass,
      );
      assertStringIncludes(error.message, "options.handlerTimeout");
    } finally {
      socket.close();
    }
  }
});
