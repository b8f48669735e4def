// deno run --allow-ffi --allow-read=/tmp/sockets-net --allow-write=/tmp/sockets-net --allow-net=unix:/tmp/sockets-net/credentials.sock examples/unix_credentials_server.ts
/**
 * A Unix server that tells each client who it is, as the kernel saw it
 * connect: its process id, user id and group id (`SO_PEERCRED`), in one
 * line, `pid 1234 uid 1000 gid 1000`, before it closes. A server that trusts
 * local clients by user (a database's peer authentication, a privileged
 * helper that accepts only root) starts from these.
 *
 * A native `Deno.UnixConn` exposes no descriptor to ask about, so the
 * server listens with `listenUnix` from `@sockets/net/fd` and serves with
 * the same engine as the others, `serve()`; each handler calls
 * `peerCredentials(conn)`. A socket file left by a crashed run is replaced;
 * the file is removed when the server stops.
 *
 * Try it with `nc -U /tmp/sockets-net/credentials.sock` and compare with
 * `id`. `--allow-ffi` is for the C library; the least grant names its
 * absolute path, which differs between systems (on Debian and Ubuntu,
 * `--allow-ffi=/lib/x86_64-linux-gnu/libc.so.6`).
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { listenUnix, peerCredentials } from "@sockets/net/fd";
import { writeAll } from "@sockets/net/io";
import { formatAddress } from "@sockets/net/resolve";
import { serve } from "@sockets/net/server";

/** A directory of its own, so that the permissions name it and nothing more. */
const DEFAULT_PATH = "/tmp/sockets-net/credentials.sock";

const USAGE = `Usage: unix_credentials_server.ts [options]

Tells each client of a Unix socket its own process, user and group ids.

  --path PATH       socket file (default ${DEFAULT_PATH})
  --help            show this help`;

/** Creates the socket's directory (owner only) when it is missing. */
async function makeDirectoryOf(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) {
    await Deno.mkdir(path.slice(0, slash), { recursive: true, mode: 0o700 });
  }
}

/** Removes a socket file left at `path`; refuses to remove anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new Error(
      `${path} exists and is not a socket: choose another --path`,
    );
  }
  await Deno.remove(path);
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["path"],
    boolean: ["help"],
    default: { path: DEFAULT_PATH },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  await makeDirectoryOf(flags.path);
  await removeStaleSocket(flags.path);
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const encoder = new TextEncoder();
    const server = serve(listenUnix(flags.path), async (conn) => {
      const { pid, uid, gid } = peerCredentials(conn);
      await writeAll(
        conn,
        encoder.encode(`pid ${pid} uid ${uid} gid ${gid}\n`),
      );
    }, {
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    });
    console.log(`listening on ${formatAddress(server.addr)}`);
    try {
      await server.finished;
    } finally {
      await Deno.remove(flags.path).catch(() => {});
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
