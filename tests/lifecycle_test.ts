// Every server of the module shares one lifecycle: the same options mean the
// same, are checked the same way, and behave alike. Each test runs over all
// of them.

import { assertEquals, assertRejects } from "@std/assert";
import { serve, serveDatagrams } from "../server.ts";
import { serveTcp } from "../tcp.ts";
import { serveUdp } from "../udp.ts";
import { serveUnix, serveUnixDatagram } from "../unix.ts";
import { serveWorkers } from "../workers.ts";
import { tempDir, within } from "./_helpers.ts";

const ECHO_HANDLER = new URL("./fixtures/echo_handler.ts", import.meta.url);

/** What the tests need of a running server of any kind. */
interface Running {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** Starts one kind of server with the lifecycle options given; `dir` is a temp dir for socket files. */
type Start = (
  options: Record<string, unknown>,
  dir: string,
) => Promise<Running>;

const servers: Record<string, Start> = {
  "serve()": (options) =>
    Promise.resolve(
      serve(Deno.listen({ hostname: "127.0.0.1", port: 0 }), () => {}, options),
    ),
  "serveTcp()": (options) =>
    Promise.resolve(
      serveTcp({ hostname: "127.0.0.1", port: 0, ...options }, () => {}),
    ),
  "serveUnix()": (options, dir) =>
    serveUnix({ path: `${dir}/stream.sock`, ...options }, () => {}),
  "serveDatagrams()": (options) =>
    Promise.resolve(
      serveDatagrams(
        Deno.listenDatagram({
          transport: "udp",
          hostname: "127.0.0.1",
          port: 0,
        }),
        () => {},
        options,
      ),
    ),
  "serveUdp()": (options) =>
    Promise.resolve(
      serveUdp({ hostname: "127.0.0.1", port: 0, ...options }, () => {}),
    ),
  "serveUnixDatagram()": (options, dir) =>
    serveUnixDatagram({ path: `${dir}/datagram.sock`, ...options }, () => {}),
  "serveWorkers()": (options) =>
    serveWorkers(ECHO_HANDLER, {
      hostname: "127.0.0.1",
      port: 0,
      workers: 1,
      ...options,
    }),
};

/** Runs `start` and returns the error it throws or rejects with, stopping a server that started. */
async function failure(start: Start, options: Record<string, unknown>) {
  await using dir = await tempDir("lifecycle-");
  let server: Running;
  try {
    server = await start(options, dir.path);
  } catch (error) {
    return error as Error;
  }
  await server.shutdown();
  throw new Error(`started with ${Deno.inspect(options)}`);
}

const badOptions: [string, Record<string, unknown>][] = [
  ["a negative shutdownTimeout", { shutdownTimeout: -1 }],
  ["a shutdownTimeout in a string", { shutdownTimeout: "10" }],
  ["a signal that is not an AbortSignal", { signal: "stop" }],
  ["an onListen that is not a function", { onListen: "log" }],
  ["a misspelled shutdownTimeout", { shutdownTimout: 10 }],
];

for (const [what, options] of badOptions) {
  Deno.test(`every server rejects ${what} with the same error`, async () => {
    const messages = new Map<string, string>();
    for (const [name, start] of Object.entries(servers)) {
      const error = await failure(start, options);
      // Each server lists its own option names after the fix.
      const message = error.message.replace(/ \(the options are .*\)$/, "");
      messages.set(name, `${error.name}: ${message}`);
    }
    const [first] = messages.values();
    for (const [name, message] of messages) {
      assertEquals(message, first, `${name} differs`);
    }
  });
}

Deno.test("every server names the closest option to a misspelled one", async () => {
  for (const start of Object.values(servers)) {
    await assertRejects(
      async () => await start({ onListn: () => {} }, "/nonexistent"),
      TypeError,
      "did you mean options.onListen?",
    );
  }
});

Deno.test("every server with an already aborted signal stops without calling onListen", async () => {
  for (const [name, start] of Object.entries(servers)) {
    await using dir = await tempDir("lifecycle-");
    let listened = false;
    // The pool rejects with the signal's reason; the others stop at once.
    const server = await (async () =>
      await start({
        signal: AbortSignal.abort(),
        onListen: () => listened = true,
      }, dir.path))().catch(() => undefined);
    if (server !== undefined) {
      await within(server.finished, `${name} to finish`);
    }
    assertEquals(listened, false, name);
  }
});

Deno.test("every server takes shutdownTimeout: Infinity as no deadline", async () => {
  for (const [name, start] of Object.entries(servers)) {
    await using dir = await tempDir("lifecycle-");
    let listened = false;
    const server = await start({
      shutdownTimeout: Infinity,
      onListen: () => listened = true,
    }, dir.path);
    assertEquals(listened, true, name);
    await within(server.shutdown(), `${name} to stop`);
  }
});
