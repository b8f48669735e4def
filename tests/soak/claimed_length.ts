/**
 * The "claimed length" scenario: peers that declare a 4 GiB body and send
 * only a little of it, against a server that reads the body with
 * `readExactly()`. Run as a module, this file is that server (a child
 * process, so that its memory can be read from `/proc/<pid>/status` without
 * the scenario's own).
 *
 * The server reads a 4-byte big-endian length, then that many bytes with
 * `readExactly(conn, length, { maxLength: Infinity })`: the limit is lifted
 * on purpose, to measure what a claimed length costs when nothing refuses it.
 * It prints `received N` after each read (N counts every client's bytes),
 * and each `readExactly()` error as `error NAME: MESSAGE`.
 *
 * @module
 */

import { type Reader, readExactly } from "../../io.ts";
import { serveTcp } from "../../tcp.ts";
import type { Figures } from "./scenarios.ts";

/** The length each client claims: the largest a 4-byte header can hold. */
const CLAIMED = 0xffff_ffff;

/** Sizes of the scenario. */
export interface ClaimedLengthSize {
  /** Clients, each claiming {@linkcode CLAIMED} bytes. */
  clients: number;
  /** Bytes each client sends after its header before it closes. */
  bytes: number;
}

/** The full size: four clients, as in the report of the problem. */
export const FULL_CLAIMED_LENGTH: ClaimedLengthSize = {
  clients: 4,
  bytes: 8 * 1024 * 1024,
};

/** The size `deno task test` runs. */
export const REDUCED_CLAIMED_LENGTH: ClaimedLengthSize = {
  clients: 4,
  bytes: 1024 * 1024,
};

/** The longest the scenario waits for the server before it fails. */
const SCENARIO_TIMEOUT_MS = 60_000;

/** Memory of a process, in bytes, from `/proc/<pid>/status`. */
async function memoryOf(pid: number): Promise<{ rss: number; vm: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) *
    1024;
  return { rss: kib("VmRSS"), vm: kib("VmSize") };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Runs the scenario and returns its figures; throws if an assertion fails. */
export async function claimedLength(
  size: ClaimedLengthSize,
): Promise<Figures> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", new URL(import.meta.url).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), SCENARIO_TIMEOUT_MS);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    while (!pending.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) {
        throw new Error(
          `the server exited early: ${JSON.stringify(await child.status)}`,
        );
      }
      pending += value;
    }
    const newline = pending.indexOf("\n");
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    return line;
  };
  const clients: Deno.TcpConn[] = [];
  try {
    const port = Number((await nextLine()).replace("listening on ", ""));
    const before = await memoryOf(child.pid);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, CLAIMED);
    const body = new Uint8Array(size.bytes).fill(0x61);
    for (let i = 0; i < size.clients; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      clients.push(conn);
      await conn.write(header);
    }
    await Promise.all(clients.map(async (conn) => {
      for (let sent = 0; sent < body.length;) {
        sent += await conn.write(body.subarray(sent));
      }
    }));
    const total = size.clients * size.bytes;
    while (Number((await nextLine()).replace("received ", "")) < total);
    const during = await memoryOf(child.pid);
    for (const conn of clients) conn.close();
    clients.length = 0;
    const errors: string[] = [];
    while (errors.length < size.clients) {
      const line = await nextLine();
      if (line.startsWith("error ")) errors.push(line.slice("error ".length));
    }
    const expected =
      `readExactly(): the stream ended after ${size.bytes} of ${CLAIMED} bytes`;
    for (const error of errors) {
      if (error !== `UnexpectedEof: ${expected}`) {
        throw new Error(
          `expected "UnexpectedEof: ${expected}", got "${error}"`,
        );
      }
    }
    const rssGrowth = during.rss - before.rss;
    const vmGrowth = during.vm - before.vm;
    // Doubling leaves up to twice the bytes received in capacity; the
    // runtime's own read buffers and the garbage collector's slack add some.
    const budget = 2 * total + 32 * 1024 * 1024;
    if (rssGrowth > budget) {
      throw new Error(
        `the server's RSS grew by ${mib(rssGrowth)} for ${
          mib(total)
        } received, more than ${mib(budget)}`,
      );
    }
    if (vmGrowth > budget + 256 * 1024 * 1024) {
      throw new Error(
        `the server's virtual memory grew by ${mib(vmGrowth)} for ${
          mib(total)
        } received: something reserved the claimed length`,
      );
    }
    return {
      "clients": size.clients,
      "length each claims": `${CLAIMED} bytes (4 GiB - 1)`,
      "bytes each sends, then closes": `${size.bytes} (${mib(size.bytes)})`,
      "server RSS before": mib(before.rss),
      "server RSS with every body pending": mib(during.rss),
      "RSS growth / bytes received": `${mib(rssGrowth)} / ${mib(total)} (${
        (rssGrowth / total).toFixed(2)
      }x)`,
      "virtual memory growth": mib(vmGrowth),
      "what a buffer of the claimed length would reserve": mib(
        size.clients * CLAIMED,
      ),
      "each client's error": `UnexpectedEof: ${expected}`,
    };
  } finally {
    for (const conn of clients) conn.close();
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited: its status says how.
    }
    await child.status;
    await lines.cancel().catch(() => {});
    clearTimeout(killer);
  }
}

/** A reader that counts what its connection delivers, for the server's progress lines. */
function counting(conn: Deno.Conn, count: (n: number) => void): Reader {
  return {
    async read(p) {
      const n = await conn.read(p);
      if (n !== null) count(n);
      return n;
    },
  };
}

if (import.meta.main) {
  let received = 0;
  const progress = (n: number) => {
    received += n;
    console.log(`received ${received}`);
  };
  const controller = new AbortController();
  Deno.addSignalListener("SIGTERM", () => controller.abort());
  const server = serveTcp({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    shutdownTimeout: 0,
    onListen: (addr) =>
      console.log(`listening on ${(addr as Deno.NetAddr).port}`),
  }, async (conn) => {
    const reader = counting(conn, progress);
    const header = await readExactly(reader, 4);
    if (header === null) return;
    const length = new DataView(header.buffer).getUint32(0);
    try {
      await readExactly(reader, length, { maxLength: Infinity });
    } catch (error) {
      console.log(
        `error ${(error as Error).name}: ${(error as Error).message}`,
      );
    }
  });
  await server.finished;
}
