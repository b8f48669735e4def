/**
 * The environment of a command run by `spawnHandler`: the connection's
 * variables, as the UCSPI tools set them, and what the command inherits
 * from the server.
 *
 * @module
 */

import { show } from "./_validate.ts";

/**
 * The variables that describe a connection, which a command never inherits
 * from the server: those of ucspi-tcp (`tcp-environ(5)`, and `TCPINTERFACE`
 * of its IPv6 patch) and of ucspi-unix (its `PROTOCOL` file). `tcpserver`
 * removes the ones it does not set for a connection, so that none is left
 * over from its own environment.
 */
export const CONNECTION_VARIABLES: ReadonlySet<string> = new Set([
  "PROTO",
  "TCPLOCALHOST",
  "TCPLOCALIP",
  "TCPLOCALPORT",
  "TCPREMOTEHOST",
  "TCPREMOTEINFO",
  "TCPREMOTEIP",
  "TCPREMOTEPORT",
  "TCPINTERFACE",
  "UNIXLOCALPATH",
  "UNIXLOCALPID",
  "UNIXLOCALUID",
  "UNIXLOCALGID",
  "UNIXREMOTEPID",
  "UNIXREMOTEEUID",
  "UNIXREMOTEEGID",
]);

/** Throws when `name` is one of {@linkcode CONNECTION_VARIABLES}. */
export function assertNotConnectionVariable(name: string, what: string): void {
  if (CONNECTION_VARIABLES.has(name)) {
    throw new TypeError(
      `${what} names ${name}, a variable of the connection, which spawnHandler sets for each client or leaves unset; remove it`,
    );
  }
}

/** Throws unless `inheritEnv` is undefined or a list of variable names, none of the connection's. */
export function assertInheritEnv(
  inheritEnv: unknown,
): asserts inheritEnv is readonly string[] | undefined {
  if (inheritEnv === undefined) return;
  if (!Array.isArray(inheritEnv)) {
    throw new TypeError(
      `options.inheritEnv must be an array of variable names such as ["PATH", "LANG"], got ${
        show(inheritEnv)
      }`,
    );
  }
  inheritEnv.forEach((name: unknown, index) => {
    if (typeof name !== "string" || name === "" || name.includes("=")) {
      throw new TypeError(
        `options.inheritEnv[${index}] must be a variable name such as "PATH", got ${
          show(name)
        }`,
      );
    }
    assertNotConnectionVariable(name, `options.inheritEnv[${index}]`);
  });
}

/**
 * Throws `NotCapable` naming the flag when the variables the command
 * inherits cannot be read: every one of `names`, or the whole environment.
 * Queried, never requested, as for `--allow-run`.
 */
export function requireEnvPermission(
  program: string,
  names: readonly string[] | undefined,
): void {
  if (names === undefined) {
    if (Deno.permissions.querySync({ name: "env" }).state === "granted") {
      return;
    }
    throw new Deno.errors.NotCapable(
      `spawn ${program}: passing the server's environment on, without the connection variables it may hold (TCPREMOTEHOST...), needs to read all of it: run again with --allow-env, or pass only what the command needs with the option inheritEnv: ["PATH"] and --allow-env=PATH, or clearEnv: true`,
    );
  }
  const denied = names.filter((variable) =>
    Deno.permissions.querySync({ name: "env", variable }).state !== "granted"
  );
  if (denied.length > 0) {
    throw new Deno.errors.NotCapable(
      `spawn ${program}: reading the variables of inheritEnv is not permitted; run again with --allow-env=${
        names.join(",")
      }`,
    );
  }
}

/**
 * The server's variables the command inherits: `names`, or the whole
 * environment without {@linkcode CONNECTION_VARIABLES}. Read at each spawn,
 * as `tcpserver` forks with its environment of the moment.
 */
export function inheritedEnv(
  names: readonly string[] | undefined,
): Record<string, string> {
  if (names !== undefined) {
    const env: Record<string, string> = {};
    for (const name of names) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    return env;
  }
  const env = Deno.env.toObject();
  for (const name of CONNECTION_VARIABLES) delete env[name];
  return env;
}

/**
 * The variables that describe the connection, as ucspi-tcp and ucspi-unix
 * set them; the peer's ids when `peerCredentials` tells them.
 */
export function connectionEnv(
  conn: Deno.Conn,
  peerCredentials?: (
    conn: Deno.Conn,
  ) => { pid: number; uid: number; gid: number },
): Record<string, string> {
  const local = conn.localAddr;
  const remote = conn.remoteAddr;
  if (local.transport === "tcp" && remote.transport === "tcp") {
    return {
      PROTO: "TCP",
      TCPLOCALIP: local.hostname,
      TCPLOCALPORT: String(local.port),
      TCPREMOTEIP: remote.hostname,
      TCPREMOTEPORT: String(remote.port),
    };
  }
  if (local.transport === "unix") {
    const env: Record<string, string> = {
      PROTO: "UNIX",
      UNIXLOCALPATH: local.path,
    };
    if (peerCredentials !== undefined) {
      const { pid, uid, gid } = peerCredentials(conn);
      env.UNIXREMOTEPID = String(pid);
      env.UNIXREMOTEEUID = String(uid);
      env.UNIXREMOTEEGID = String(gid);
    }
    return env;
  }
  return {};
}
