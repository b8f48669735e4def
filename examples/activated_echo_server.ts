// deno run --allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES examples/activated_echo_server.ts
/**
 * An echo server on sockets it inherits instead of binding: every listening
 * socket systemd passes (socket activation), or, with `--inetd`, the one
 * connection inetd passes on standard input. It needs no `--allow-net`:
 * the launcher has bound the sockets already, and may give the program
 * fewer rights than binding a privileged port would.
 *
 * Try it without systemd as init:
 *
 * ```sh
 * systemd-socket-activate -l 127.0.0.1:7000 --fdname=echo \
 *   deno run --allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES examples/activated_echo_server.ts
 * nc 127.0.0.1 7000
 * ```
 *
 * or a process per connection, inetd's way:
 *
 * ```sh
 * systemd-socket-activate -l 127.0.0.1:7000 --accept --inetd \
 *   deno run examples/activated_echo_server.ts --inetd
 * ```
 *
 * Under systemd, a socket unit `/etc/systemd/system/deno-echo.socket`:
 *
 * ```ini
 * [Socket]
 * ListenStream=127.0.0.1:7000
 * ListenStream=/run/deno-echo.sock
 * FileDescriptorName=echo
 *
 * [Install]
 * WantedBy=sockets.target
 * ```
 *
 * and its service `/etc/systemd/system/deno-echo.service`, started at the
 * first connection (`systemctl enable --now deno-echo.socket`):
 *
 * ```ini
 * [Service]
 * ExecStart=/usr/bin/deno run --allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES /opt/deno-echo/activated_echo_server.ts
 * DynamicUser=yes
 * ```
 *
 * SIGTERM (`systemctl stop`) stops it gracefully, as Ctrl-C does.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { activatedListeners, inetdConnection } from "@sockets/net/activation";
import { copy } from "@sockets/net/io";
import { formatAddress } from "@sockets/net/resolve";
import { serve } from "@sockets/net/server";

const USAGE = `Usage: activated_echo_server.ts [options]

Sends every byte back to the client that sent it, on the sockets passed by
systemd socket activation (LISTEN_FDS), or on inetd's connection.

  --inetd                  serve the one connection on standard input, then exit
  --idle-timeout MS        close a client silent for this long
  --help                   show this help`;

function optionalNumber(
  text: string | undefined,
  name: string,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || Number.isNaN(value)) {
    throw new TypeError(`--${name} must be a number, got "${text}"`);
  }
  return value;
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["idle-timeout"],
    boolean: ["help", "inetd"],
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  if (flags.inetd) {
    using conn = inetdConnection();
    await copy(conn, conn);
    await conn.closeWrite();
    return;
  }
  const idleTimeout = optionalNumber(flags["idle-timeout"], "idle-timeout");
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const servers = activatedListeners().map(({ name, listener }) => {
      console.log(`listening on ${formatAddress(listener.addr)} (${name})`);
      return serve(listener, (conn) => copy(conn, conn), {
        idleTimeout,
        signal: controller.signal,
        onError: (error) =>
          console.error(error instanceof Error ? error.message : error),
      });
    });
    await Promise.all(servers.map((server) => server.finished));
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
