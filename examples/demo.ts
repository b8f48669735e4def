// deno run --unstable-net --allow-read=.,/tmp/sockets-net-demo --allow-write=/tmp/sockets-net-demo --allow-run=tr --allow-net=127.0.0.1,[::1],unix:/tmp/sockets-net-demo/echo.sock,unix:/tmp/sockets-net-demo/.echo.sock/s,unix:/tmp/sockets-net-demo/time.sock,unix:/tmp/sockets-net-demo/client.sock examples/demo.ts
/**
 * A tour of the module in a few seconds: each server starts on a free port,
 * its client talks to it, and the demo prints what went over the wire.
 *
 * Unix sockets live in `/tmp/sockets-net-demo`, which the demo creates (mode 0700)
 * and removes; Deno grants Unix socket paths one by one, hence the list of
 * `unix:` paths in the permissions. The prefork pool's workers load the
 * module's files from this directory, hence `--allow-read=.`; `tr` is the
 * command that each connection of the process-per-connection server runs.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy, lines, writeAll } from "@sockets/net/io";
import { formatAddress } from "@sockets/net/resolve";
import { spawnHandler } from "@sockets/net/spawn";
import { connectTcp, serveTcp } from "@sockets/net/tcp";
import { connectUdp, requestUdp, serveUdp } from "@sockets/net/udp";
import {
  connectUnix,
  listenUnixDatagram,
  serveUnix,
  serveUnixDatagram,
} from "@sockets/net/unix";
import { serveWorkers } from "@sockets/net/workers";

/** Where the Unix sockets go: fixed, so that the permissions can name it. */
const UNIX_DIR = "/tmp/sockets-net-demo";

const USAGE = `Usage: demo.ts

Starts each kind of server on a free loopback port, runs a client against it,
and prints what happens.`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function row(label: string, value: string): void {
  console.log(`  ${label.padEnd(22)} ${value}`);
}

function show(label: string, text: string): void {
  row(label, JSON.stringify(text));
}

async function tcpHello(): Promise<void> {
  console.log("TCP hello server (the classic first server)");
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0 },
    (conn) => writeAll(conn, encoder.encode("Hello World\n")),
  );
  row("listening on", formatAddress(server.addr));
  using conn = await connectTcp({ port: server.addr.port });
  show("client read", await new Response(conn.readable).text());
}

async function tcpEcho(): Promise<void> {
  console.log("TCP echo server, iterative (maxConnections: 1)");
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0, maxConnections: 1 },
    (conn) => copy(conn, conn),
  );
  row("listening on", formatAddress(server.addr));
  for (const message of ["first client", "second client"]) {
    using conn = await connectTcp({ port: server.addr.port });
    await writeAll(conn, encoder.encode(`${message}\n`));
    await conn.closeWrite();
    for await (const line of lines(conn)) show("echo", line);
  }
}

async function tcpEveryAddress(): Promise<void> {
  console.log("TCP client trying every address (RFC 8305)");
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0 },
    (conn) => writeAll(conn, encoder.encode("reached over IPv4\n")),
  );
  const addresses = ["::1", "127.0.0.1"];
  row("resolver answers", addresses.join(", "));
  using conn = await connectTcp({
    hostname: "dual-stack.example",
    port: server.addr.port,
    resolve: () => Promise.resolve(addresses),
    timeout: 5_000,
  });
  row("::1 refused; connected", conn.remoteAddr.hostname);
  show("client read", await new Response(conn.readable).text());
}

async function processPerConnection(): Promise<void> {
  console.log("TCP server, a process per connection (tr a-z A-Z)");
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0 },
    spawnHandler(["tr", "a-z", "A-Z"], { clearEnv: true }),
  );
  row("listening on", formatAddress(server.addr));
  for (const message of ["first client", "second client"]) {
    using conn = await connectTcp({ port: server.addr.port });
    await writeAll(conn, encoder.encode(message));
    await conn.closeWrite();
    show("child process wrote", await new Response(conn.readable).text());
  }
}

/** Each worker loads the module on its own, so each draws its own name. */
const NAMED_WORKER_HANDLER = `data:text/javascript,
const name = "worker-" + crypto.randomUUID().slice(0, 4);
export default (conn) => conn.write(new TextEncoder().encode(name));`;

async function preforkPool(): Promise<void> {
  console.log("TCP prefork pool: 2 workers, each listening on the same port");
  await using pool = await serveWorkers(NAMED_WORKER_HANDLER, {
    hostname: "127.0.0.1",
    port: 0,
    workers: 2,
  });
  row("listening on", formatAddress(pool.addr));
  const served = new Map<string, number>();
  for (let client = 0; client < 8; client++) {
    using conn = await connectTcp({ port: pool.addr.port });
    const name = await new Response(conn.readable).text();
    served.set(name, (served.get(name) ?? 0) + 1);
  }
  row(
    "8 clients served by",
    [...served].map(([name, count]) => `${name} (${count})`).join(", "),
  );
}

async function udpEcho(): Promise<void> {
  console.log("UDP echo server, connected client (one datagram per send)");
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    (data) => data,
  );
  row("listening on", formatAddress(server.addr));
  await using client = await connectUdp(server.addr);
  for (const message of ["one datagram", "another"]) {
    await client.send(encoder.encode(message));
    show("echo", decoder.decode(await client.receive()));
  }
}

async function udpRetries(): Promise<void> {
  console.log("UDP request with retries, to a server that drops the first two");
  let seen = 0;
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    (data) => ++seen <= 2 ? undefined : data,
  );
  row("listening on", formatAddress(server.addr));
  const answer = await requestUdp(
    encoder.encode("are you there?"),
    server.addr,
    {
      attemptTimeout: 100,
      retries: 4,
    },
  );
  row("requests sent", String(seen));
  show("answer", decoder.decode(answer));
}

async function unixEcho(): Promise<void> {
  console.log("Unix stream echo server, socket mode 0600");
  const path = `${UNIX_DIR}/echo.sock`;
  await using _server = await serveUnix(
    { path, mode: 0o600 },
    (conn) => copy(conn, conn),
  );
  const { mode } = await Deno.stat(path);
  row("listening on", `${path} (mode ${(mode! & 0o777).toString(8)})`);
  using conn = await connectUnix(path, { timeout: 5_000 });
  await writeAll(conn, encoder.encode("over a socket file\n"));
  await conn.closeWrite();
  for await (const line of lines(conn)) show("echo", line);
}

async function unixDatagram(): Promise<void> {
  console.log("Unix datagram server, answering the sender's path");
  await using server = await serveUnixDatagram(
    { path: `${UNIX_DIR}/time.sock` },
    (question, from) => {
      row(
        "server got",
        `${JSON.stringify(decoder.decode(question))} from ${
          formatAddress(from)
        }`,
      );
      return encoder.encode(new Date().toISOString());
    },
  );
  row("bound to", formatAddress(server.addr));
  await using client = await listenUnixDatagram({
    path: `${UNIX_DIR}/client.sock`,
  });
  await client.send(encoder.encode("what time is it?"), server.addr);
  const { data: answer } = await client.receive();
  show("client got", decoder.decode(answer));
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, { boolean: ["help"] });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  await tcpHello();
  await tcpEcho();
  await tcpEveryAddress();
  await processPerConnection();
  await preforkPool();
  await udpEcho();
  await udpRetries();
  await Deno.mkdir(UNIX_DIR, { recursive: true, mode: 0o700 });
  try {
    await unixEcho();
    await unixDatagram();
  } finally {
    await Deno.remove(UNIX_DIR, { recursive: true });
  }
  console.log("done");
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
