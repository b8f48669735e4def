// deno run --allow-ffi --allow-read=. examples/socketpair.ts
/**
 * A parent and a child talking over a socket pair, as the Unix-socket
 * chapter of the classic tutorial ends: the parent makes two connected
 * sockets with `socketpair(2)`, hands one to its child, and keeps the
 * other. Here the child is a Worker, which shares the process's
 * descriptors: the parent posts the descriptor's number, and the child
 * adopts it. The parent sends its standard input; the child answers each
 * line in capitals; the parent prints the answers and who sent them.
 *
 * Try it with `printf 'hello\nchild\n' | deno run --allow-ffi --allow-read=. examples/socketpair.ts`
 * from the project's directory; the read grant loads this module again, with its imports, as
 * the Worker.
 *
 * `--allow-ffi` is for the C library alone; the least grant names its
 * absolute path, which differs between systems (on Debian and Ubuntu:
 * `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`, or `aarch64-linux-gnu`).
 * Without the flag, the message names the path on this machine.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { Descriptor, descriptorPair, peerCredentials } from "@sockets/net/fd";
import { copy, lines, writeAll } from "@sockets/net/io";

/** The Worker's name: the same module runs as the child under it. */
const CHILD = "socketpair-child";

const USAGE = `Usage: socketpair.ts

Sends standard input over a socket pair to a child (a Worker), which answers
each line in capitals; prints the answers.

  --help           show this help`;

/** The child: adopts its end of the pair, answers each line, and closes. */
async function child(fd: number): Promise<void> {
  using conn = new Descriptor(fd).toConn();
  const encoder = new TextEncoder();
  for await (const line of lines(conn)) {
    await writeAll(conn, encoder.encode(`${line.toUpperCase()}\n`));
  }
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, { boolean: ["help"] });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const [mine, theirs] = descriptorPair();
  const worker = new Worker(import.meta.url, { type: "module", name: CHILD });
  // The child says when it is done: null, or why it failed.
  const done = new Promise<void>((resolve, reject) => {
    const settle = (problem: string | null) =>
      problem === null
        ? resolve()
        : reject(new Error(`the child failed: ${problem}`));
    worker.onmessage = (event: MessageEvent<string | null>) =>
      settle(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      settle(event.message);
    };
  });
  // From here on the child owns its end, and closes it.
  worker.postMessage(theirs.take());
  try {
    using conn = mine.toConn();
    const { pid } = peerCredentials(conn);
    console.error(`talking to a child of process ${pid} over a socket pair`);
    copy(Deno.stdin, conn).then(() => conn.closeWrite()).catch(() => {});
    await Promise.all([copy(conn, Deno.stdout), done]);
  } finally {
    worker.terminate();
  }
}

/** The Worker's side of the global scope (the file is type-checked as a main module). */
const scope = self as unknown as {
  name: string;
  onmessage: (event: MessageEvent<number>) => void;
  postMessage(message: string | null): void;
  close(): void;
};

if (scope.name === CHILD) {
  scope.onmessage = async (event) => {
    try {
      await child(event.data);
      scope.postMessage(null);
    } catch (error) {
      scope.postMessage(error instanceof Error ? error.message : String(error));
    }
    scope.close();
  };
} else if (import.meta.main) {
  try {
    await main(Deno.args);
    // Standard input may still be open (a terminal): the answers are over.
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
