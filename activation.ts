/**
 * Inherited sockets: serve the listening sockets that systemd socket
 * activation passes ({@linkcode activatedListeners}), or the one connection
 * inetd passes on descriptor 0 ({@linkcode inetdConnection}), with the same
 * engine as every other server: `serve(listener, handler, options)`.
 *
 * The launcher has already bound the sockets, so no `--allow-net` is
 * needed: {@linkcode activatedListeners} reads its three variables
 * (`--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES`), and
 * {@linkcode inetdConnection} needs no permission at all.
 *
 * @example Serve what systemd passes (run under `systemd-socket-activate -l 127.0.0.1:7000 deno run ...`)
 * ```ts ignore
 * import { activatedListeners } from "@sockets/net/activation";
 * import { serve } from "@sockets/net/server";
 * import { copy } from "@sockets/net/io";
 *
 * const [{ listener }] = activatedListeners();
 * await serve(listener, (conn) => copy(conn, conn)).finished;
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import {
  adoptInheritedConn,
  adoptInheritedListener,
  isSocketStdin,
} from "./_adopt.ts";

/** The first descriptor systemd passes: `SD_LISTEN_FDS_START` of sd-daemon.h. */
const LISTEN_FDS_START = 3;

/**
 * No process can hold a descriptor above Linux's `fs.nr_open` (1,048,576 by
 * default), so a larger `LISTEN_FDS` is malformed, not a request to adopt a
 * million sockets.
 */
const MAX_LISTEN_FDS = 1 << 20;

/** The name of an unnamed socket, as `sd_listen_fds_with_names()` gives it. */
const UNNAMED = "unknown";

/** The variables of the socket activation protocol (sd_listen_fds(3)). */
const VARIABLES = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] as const;

/** The permission that reading and unsetting the variables needs. */
const ENV_FLAG = `--allow-env=${VARIABLES.join(",")}`;

/** How the program must be started for {@linkcode activatedListeners}. */
const HOW_TO_START =
  "start the program from a systemd .socket unit, or with systemd-socket-activate -l 127.0.0.1:PORT deno run ...";

/**
 * A listening socket passed by systemd socket activation.
 *
 * @example Pick a socket by its name (run under systemd)
 * ```ts ignore
 * import { activatedListeners, type ActivatedListener } from "@sockets/net/activation";
 * import { serve } from "@sockets/net/server";
 *
 * const byName = new Map<string, ActivatedListener>(
 *   activatedListeners().map((activated) => [activated.name, activated]),
 * );
 * const web = byName.get("web");
 * if (web === undefined) throw new Error("no socket named web: set FileDescriptorName=web");
 * await serve(web.listener, (conn) => conn.close()).finished;
 * ```
 */
export interface ActivatedListener {
  /**
   * Its name: the `FileDescriptorName=` of its `.socket` unit (by default
   * the unit's name), from `LISTEN_FDNAMES`; `"unknown"` when the launcher
   * passes no names, as `sd_listen_fds_with_names()` gives.
   */
  name: string;
  /** Its descriptor: 3 for the first socket, then 4... */
  fd: number;
  /**
   * The listener, a TCP one (`addr` a `Deno.NetAddr`) or a Unix one (`addr`
   * a `Deno.UnixAddr`), told apart by the socket's address.
   */
  listener: Deno.Listener;
}

/** Reads one variable, naming the flag a missing permission needs. */
function readVariable(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new Deno.errors.NotCapable(
        `activatedListeners: reading ${name} needs permission; run again with ${ENV_FLAG}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The listening sockets passed by systemd socket activation, adopted as
 * listeners to serve with `serve()`: as `sd_listen_fds_with_names(1)`, it
 * reads `LISTEN_FDS` (how many, from descriptor 3 on), checks that
 * `LISTEN_PID` names this process, takes the names from `LISTEN_FDNAMES`,
 * and then unsets the three variables, so that a process this one starts
 * does not take the sockets for its own. Call it once: a second call finds
 * the variables gone.
 *
 * systemd passes the sockets without close-on-exec, and setting the flag
 * takes a system call Deno has no API for (`sd_listen_fds` sets it): a
 * program started by `spawnHandler` inherits them. Such a child holds a
 * listener open after this process closes it; give it nothing it could
 * misuse, or close its inherited descriptors where it starts.
 *
 * Only stream sockets (`ListenStream=`, TCP or Unix) are supported; with
 * `Accept=yes` systemd passes a connection, not a listener: use
 * {@linkcode inetdConnection}'s way of adopting it instead.
 *
 * @returns The listeners, in the order systemd passed them.
 * @throws {Deno.errors.NotCapable} Without
 *   `--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES`.
 * @throws {Deno.errors.NotFound} When `LISTEN_FDS` is not set, or
 *   `LISTEN_PID` is not set or names another process: no sockets were passed
 *   to this one.
 * @throws {TypeError} When a variable is malformed. A descriptor that is
 *   not a listening stream socket makes the listener's `accept()` reject.
 *
 * @example Serve every socket systemd passes
 * ```ts ignore
 * import { activatedListeners } from "@sockets/net/activation";
 * import { serve } from "@sockets/net/server";
 *
 * const greeting = new TextEncoder().encode("hello\n");
 * const servers = activatedListeners().map(({ listener }) =>
 *   serve(listener, (conn) => conn.write(greeting))
 * );
 * await Promise.all(servers.map((server) => server.finished));
 * ```
 *
 * @example Without systemd, it says how to start the program
 * ```ts
 * import { activatedListeners } from "@sockets/net/activation";
 * import { assertThrows } from "@std/assert";
 *
 * Deno.env.delete("LISTEN_FDS");
 * assertThrows(() => activatedListeners(), Deno.errors.NotFound, "LISTEN_FDS");
 * ```
 */
export function activatedListeners(): ActivatedListener[] {
  const count = readVariable("LISTEN_FDS");
  const pid = readVariable("LISTEN_PID");
  const names = readVariable("LISTEN_FDNAMES");
  // As sd_listen_fds(unset_environment=1): unset whatever was found.
  for (const name of VARIABLES) Deno.env.delete(name);
  if (count === undefined) {
    throw new Deno.errors.NotFound(
      `activatedListeners: LISTEN_FDS is not set, so no sockets were passed to this process; ${HOW_TO_START}`,
    );
  }
  // sd_listen_fds() passes no sockets without LISTEN_PID: the descriptors
  // from 3 on may be anything this process opened.
  if (pid === undefined) {
    throw new Deno.errors.NotFound(
      `activatedListeners: LISTEN_FDS is set but LISTEN_PID is not, so the sockets are not known to be for this process; ${HOW_TO_START}`,
    );
  }
  if (pid !== String(Deno.pid)) {
    throw new Deno.errors.NotFound(
      `activatedListeners: LISTEN_PID=${pid} names another process, not this one (${Deno.pid}), so its sockets are not for this process; ${HOW_TO_START}`,
    );
  }
  const n = Number(count);
  if (!/^\d+$/.test(count) || n > MAX_LISTEN_FDS) {
    throw new TypeError(
      `activatedListeners: LISTEN_FDS must be a number of descriptors from 0 to ${MAX_LISTEN_FDS}, got "${count}"`,
    );
  }
  const nameList = names === undefined || names === ""
    ? Array<string>(n).fill(UNNAMED)
    : names.split(":");
  if (nameList.length !== n) {
    throw new TypeError(
      `activatedListeners: LISTEN_FDNAMES names ${nameList.length} sockets ("${names}") but LISTEN_FDS passes ${n}`,
    );
  }
  const adopted: ActivatedListener[] = [];
  try {
    for (const [i, name] of nameList.entries()) {
      const fd = LISTEN_FDS_START + i;
      adopted.push({ name, fd, listener: adoptInheritedListener(fd) });
    }
  } catch (error) {
    // The caller gets no listener to close: none may stay open.
    for (const { listener } of adopted) listener.close();
    throw error;
  }
  return adopted;
}

/**
 * The connection inetd (or `systemd` with `Accept=yes` and
 * `StandardInput=socket`, or `socat ... EXEC:`) passes on descriptor 0,
 * adopted as a conn: a TCP conn if the socket has an Internet address, else
 * a Unix one. The conn owns descriptor 0 from then on: use it, not
 * `Deno.stdin`, and close it once.
 *
 * @returns The connection.
 * @throws {TypeError} When descriptor 0 is not a socket (a terminal, a pipe,
 *   a file): the program was not started by inetd.
 *
 * @example Greet the client and close
 * ```ts ignore
 * import { inetdConnection } from "@sockets/net/activation";
 *
 * using conn = inetdConnection();
 * await conn.write(new TextEncoder().encode("hello\n"));
 * ```
 *
 * @example Started from a terminal, it says how to start the program
 * ```ts
 * import { inetdConnection } from "@sockets/net/activation";
 * import { assertThrows } from "@std/assert";
 *
 * if (Deno.stdin.isTerminal()) {
 *   assertThrows(() => inetdConnection(), TypeError, "not a socket");
 * }
 * ```
 */
export function inetdConnection(): Deno.Conn {
  if (!isSocketStdin()) {
    throw new TypeError(
      "inetdConnection: descriptor 0 (standard input) is not a socket; start the program from inetd, from a systemd service with Accept=yes and StandardInput=socket, or with socat TCP-LISTEN:PORT,fork EXEC:'deno run ...'",
    );
  }
  return adoptInheritedConn(0);
}
