// The life of a Unix socket file: checks before bind (length, permissions,
// what is already at the path), binding without ever exposing a wider mode,
// and removal on close that spares a file this process did not create.
//
// Deno 2.9 facts this file is built around (checked by experiment):
// - closing a `Deno.listen({ transport: "unix" })` listener unlinks the path it
//   was bound to, whatever file is there by then, even a newer server's socket
//   or a regular file;
// - closing a `Deno.listenDatagram({ transport: "unixpacket" })` socket leaves
//   its file behind;
// - connecting to a socket file that no process listens on fails with
//   ConnectionRefused; to a live datagram socket, with "protocol wrong type";
//   to a regular file, also with ConnectionRefused (hence the `lstat` first);
// - binding or connecting needs `--allow-net=unix:PATH` besides read and write
//   permission, granted for exact absolute paths only (no prefixes, no
//   wildcards): a socket's path must be known in advance to be granted.

import { annotate, type Network } from "./_errors.ts";
import { show } from "./_validate.ts";
import { socketPathText } from "./_address.ts";

/** `sun_path` holds 108 bytes on Linux, one of them the terminating NUL (unix(7)). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * How long the stale-file probe waits for a connect. A connect to a live
 * socket completes at once unless its backlog is full, and a full backlog
 * means a live server, so a probe that times out counts as "answered".
 */
const STALE_PROBE_TIMEOUT_MS = 1_000;

/** Only the owner may enter the private directory (the 0700 of mkdtemp(3)). */
const PRIVATE_DIR_MODE = 0o700;

/** What identifies the file we created: device and inode, as `stat(2)` gives them. */
export interface FileIdentity {
  /** Device number of the file system. */
  dev: number;
  /** Inode number. */
  ino: number;
}

/** Where and what, for error messages. */
export interface SocketFileContext {
  /** The verb: `listen`, `connect`, ... */
  op: string;
  /** The transport. */
  network: Network;
}

const encoder = new TextEncoder();

/**
 * Whether `path` is a Linux abstract name (`"\0name"`): a socket with no
 * file, so none of the socket-file handling (stat, stale check, unlink,
 * mode) applies, and Deno needs a bare `--allow-net` for it.
 */
export function isAbstractName(path: string): boolean {
  return path.startsWith("\0");
}

/**
 * Throws unless `path` is a usable socket path: a string of 1 to 107 bytes
 * without NUL, or an abstract name (`"\0name"`, NUL only first).
 */
export function assertSocketPath(
  path: unknown,
  name: string,
): asserts path is string {
  if (typeof path !== "string") {
    throw new TypeError(
      `${name} must be a socket file path such as "/tmp/app.sock", got ${
        show(path)
      }`,
    );
  }
  if (path === "") {
    throw new RangeError(
      `${name} must not be empty: give a socket file path such as "/tmp/app.sock"`,
    );
  }
  if (path === "\0") {
    throw new RangeError(
      `${name} is an empty abstract name: give a name after the NUL, such as "\\0app"`,
    );
  }
  if (path.includes("\0", 1)) {
    throw new RangeError(
      `${name} must not contain NUL characters except the first of an abstract name ("\\0app"), got ${
        show(path)
      }`,
    );
  }
  const bytes = encoder.encode(path).length;
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new RangeError(
      `${name} is ${bytes} bytes long, but a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} (sun_path): choose a shorter path, such as one in /tmp or in $XDG_RUNTIME_DIR, or a relative one`,
    );
  }
}

/** The directory part of `path`, as `dirname(1)`. */
export function directoryOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  if (slash === -1) return ".";
  if (slash === 0) return "/";
  return trimmed.slice(0, slash);
}

/** A permission that an operation on a socket file needs. */
export interface PathPermission {
  /** `read`, `write`, or `net` (for the socket itself, `--allow-net=unix:PATH`). */
  name: "read" | "write" | "net";
  /** The path it is needed for. */
  path: string;
}

/**
 * The `unix:` grant for a socket path. Deno takes only absolute ones, and
 * checks a relative path as resolved against the working directory, so a
 * relative path is resolved the same way here.
 */
function netHostOf(path: string): string {
  if (path.startsWith("/")) return `unix:${path}`;
  let cwd: string;
  try {
    cwd = Deno.cwd();
  } catch {
    // The working directory was removed: Deno cannot resolve it either.
    return `unix:${path}`;
  }
  const parts: string[] = [];
  for (const part of `${cwd}/${path}`.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `unix:/${parts.join("/")}`;
}

function granted({ name, path }: PathPermission): boolean {
  try {
    const descriptor: Deno.PermissionDescriptor = name === "net"
      ? isAbstractName(path) ? { name } : { name, host: netHostOf(path) }
      : { name, path };
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    // A grant Deno cannot check: let the operation itself ask.
    return true;
  }
}

function flagValue({ name, path }: PathPermission): string {
  return name === "net" ? netHostOf(path) : path;
}

/**
 * Throws `NotCapable` naming every missing `--allow-read=PATH` /
 * `--allow-write=PATH` / `--allow-net=unix:PATH` flag at once, instead of one per failed attempt.
 * Permissions are queried, never requested: a prompt would stall a server
 * while it starts.
 */
export function requirePermissions(
  context: SocketFileContext & { address: string },
  permissions: PathPermission[],
): void {
  // An abstract name has no file to read or write, and only a bare
  // --allow-net covers it: a unix: grant cannot express the NUL.
  const needed = permissions.filter(({ name, path }) =>
    !isAbstractName(path) || name === "net"
  );
  const missing = needed.filter((permission) => !granted(permission));
  if (missing.length === 0) return;
  const flags = (["read", "write", "net"] as const).flatMap((kind) => {
    const ofKind = missing.filter(({ name }) => name === kind);
    if (ofKind.some(({ path }) => isAbstractName(path))) return ["--allow-net"];
    const values = ofKind.map(flagValue);
    return values.length === 0 ? [] : [`--allow-${kind}=${values.join(",")}`];
  });
  throw new Deno.errors.NotCapable(
    `${context.op} ${context.network} ${
      socketPathText(context.address)
    }: permission denied; run again with ${flags.join(" ")}`,
  );
}

/** `lstat`, or `undefined` when nothing is at the path. */
function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isFile) return "a regular file";
  if (info.isDirectory) return "a directory";
  if (info.isSymlink) return "a symbolic link";
  return "not a socket";
}

/** Resolves to true when a server accepts (or cannot yet accept) a connection at `path`. */
async function answers(path: string): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), STALE_PROBE_TIMEOUT_MS);
  });
  const connecting = Deno.connect({ transport: "unix", path });
  try {
    const result = await Promise.race([connecting, timedOut]);
    if (result === "timeout") {
      connecting.then((conn) => conn.close(), () => {});
      return true;
    }
    result.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return false;
    // Gone meanwhile: nobody answers, and there is nothing left to remove.
    if (error instanceof Deno.errors.NotFound) return false;
    // "Protocol wrong type" and the like: a live socket of another type.
    return true;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Clears the way for a bind at `path`: nothing there is fine; a socket that
 * no server answers is removed when `removeStale` is set; a live socket, or
 * anything that is not a socket, is an error and is left untouched.
 */
export async function clearStaleSocket(
  path: string,
  removeStale: boolean,
  context: SocketFileContext,
): Promise<void> {
  // An abstract name is released with its socket: nothing can be stale.
  if (isAbstractName(path)) return;
  const prefix = `${context.op} ${context.network} ${path}`;
  const before = lstatOrUndefined(path);
  if (before === undefined) return;
  if (!before.isSocket) {
    throw new Deno.errors.AlreadyExists(
      `${prefix}: the path is ${
        kindOf(before)
      }, not a socket, and was left untouched; choose another path, or remove it yourself if it is not needed`,
    );
  }
  if (await answers(path)) {
    throw new Deno.errors.AddrInUse(
      `${prefix}: a live server owns this socket file (it accepted a connection); stop that server or choose another path`,
    );
  }
  if (!removeStale) {
    throw new Deno.errors.AddrInUse(
      `${prefix}: a stale socket file (no server answers) is in the way; remove it, or leave removeStale at its default (true)`,
    );
  }
  // Remove only the file that was probed: a server that replaced it since
  // then keeps its socket.
  const now = lstatOrUndefined(path);
  if (now === undefined) return;
  if (!sameFile(now, identityOf(before))) {
    throw new Deno.errors.AddrInUse(
      `${prefix}: the socket file was replaced while it was checked; another server may be starting at this path`,
    );
  }
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw annotate(error, { ...context, address: path });
    }
  }
}

/** The identity of `info`. */
export function identityOf(info: Deno.FileInfo): FileIdentity {
  return { dev: info.dev, ino: info.ino ?? -1 };
}

function sameFile(info: Deno.FileInfo, identity: FileIdentity): boolean {
  return info.dev === identity.dev && info.ino === identity.ino;
}

/** The identity of the file now at `path`, for the same-inode rule on close. */
export function identityAt(path: string): FileIdentity {
  if (isAbstractName(path)) return ABSTRACT_IDENTITY;
  return identityOf(Deno.lstatSync(path));
}

/** The identity of an abstract name: no file, so nothing to remove. */
const ABSTRACT_IDENTITY: FileIdentity = Object.freeze({ dev: -1, ino: -1 });

/**
 * Removes the socket file at `path` if it is still the one identified by
 * `identity`: a newer server's socket, or any other file put there since,
 * survives. Best effort, as close must not fail: a file that is gone or
 * that cannot be removed is left as it is.
 */
export function removeIfSame(path: string, identity: FileIdentity): void {
  if (isAbstractName(path)) return;
  try {
    const info = lstatOrUndefined(path);
    if (info !== undefined && info.isSocket && sameFile(info, identity)) {
      Deno.removeSync(path);
    }
  } catch {
    // Close must not fail because the file could not be removed.
  }
}

/** The name of a path's last component. */
function baseOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Where a stream server binds before its socket is linked into place. */
export interface PrivatePaths {
  /** The private directory: `.NAME` next to the socket path `DIR/NAME`. */
  dir: string;
  /** The socket inside it. */
  socket: string;
}

/**
 * The private paths of the socket path `DIR/NAME`: `DIR/.NAME/s`. They are
 * fixed, not random, because Deno grants `--allow-net=unix:PATH` for exact
 * paths only, so a server's bind path must be known to grant it.
 */
export function privatePathsOf(path: string): PrivatePaths {
  const dir = `${directoryOf(path)}/.${baseOf(path)}`;
  return { dir, socket: `${dir}/s` };
}

/** What a crashed start left in the private directory, seen before a wait. */
interface Leftover {
  dir: FileIdentity;
  socket: FileIdentity | undefined;
}

/**
 * Looks at a private directory that is already there: one that a crashed
 * start left behind (empty, or holding a stale socket) may be cleared when
 * `removeStale` is set; one in use by a server starting right now, or
 * holding anything else, is an error.
 */
async function inspectPrivateDirectory(
  paths: PrivatePaths,
  removeStale: boolean,
  prefix: string,
): Promise<Leftover | undefined> {
  const info = lstatOrUndefined(paths.dir);
  if (info === undefined) return undefined;
  const socket = info.isDirectory ? lstatOrUndefined(paths.socket) : undefined;
  if (!info.isDirectory || (socket !== undefined && !socket.isSocket)) {
    throw new Deno.errors.AlreadyExists(
      `${prefix}: ${paths.dir}, where the server binds before its socket is put in place, is in the way and was left untouched; remove it if it is not needed`,
    );
  }
  if (socket !== undefined && await answers(paths.socket)) {
    throw startingHere(prefix);
  }
  if (!removeStale) {
    throw new Deno.errors.AddrInUse(
      `${prefix}: ${paths.dir} is left over from a server that crashed while starting; remove it, or leave removeStale at its default (true)`,
    );
  }
  return {
    dir: identityOf(info),
    socket: socket === undefined ? undefined : identityOf(socket),
  };
}

function startingHere(prefix: string, cause?: unknown): Error {
  return new Deno.errors.AddrInUse(
    `${prefix}: another server is starting at this path right now; stop it or choose another path`,
    { cause },
  );
}

/**
 * Clears the leftover seen by {@linkcode inspectPrivateDirectory} and
 * creates the private directory; only the owner can enter it. Synchronous,
 * and so is everything up to the bind: no other start in this process can
 * take the directory in between. Anything that changed since the leftover
 * was seen belongs to another server starting now, which wins the race.
 */
function makePrivateDirectory(
  paths: PrivatePaths,
  leftover: Leftover | undefined,
  prefix: string,
): void {
  if (leftover !== undefined) {
    const dir = lstatOrUndefined(paths.dir);
    const socket = lstatOrUndefined(paths.socket);
    const unchanged = dir !== undefined && sameFile(dir, leftover.dir) &&
      (leftover.socket === undefined
        ? socket === undefined
        : socket !== undefined && sameFile(socket, leftover.socket));
    if (!unchanged) throw startingHere(prefix);
    try {
      if (leftover.socket !== undefined) Deno.removeSync(paths.socket);
      Deno.removeSync(paths.dir);
    } catch (error) {
      throw startingHere(prefix, error);
    }
  }
  try {
    // mkdir's mode is narrowed by the umask, never widened: it is never
    // more than 0700, and chmod restores the owner bits a strict umask took.
    Deno.mkdirSync(paths.dir, { mode: PRIVATE_DIR_MODE });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw startingHere(prefix, error);
    }
    throw error;
  }
  Deno.chmodSync(paths.dir, PRIVATE_DIR_MODE);
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Cleanup after a failure: the original error is the one to report.
  }
}

/** A socket bound at its final path, with the identity of its file. */
export interface PlacedSocket<T> {
  /** The socket; its own idea of its path is the private one. */
  socket: T;
  /** The socket file now at the final path. */
  identity: FileIdentity;
}

/**
 * Binds a socket (with `bind`, given the private path) in a private
 * directory (mode 0700) next to `path`, sets its mode there, then hard-links
 * it to `path` and removes the private name and directory. Nobody can reach
 * the socket before its mode is set (the directory keeps them out),
 * `link(2)` fails rather than replace a file that appeared at `path`
 * meanwhile, and since the socket was bound to the private name, Deno's
 * unlink-on-close of a stream listener hits that name and never `path`.
 */
export async function bindPrivately<T extends { close(): void }>(
  path: string,
  mode: number | undefined,
  removeStale: boolean,
  context: SocketFileContext,
  bind: (privatePath: string) => T,
): Promise<PlacedSocket<T>> {
  if (isAbstractName(path)) {
    try {
      return { socket: bind(path), identity: ABSTRACT_IDENTITY };
    } catch (error) {
      throw annotate(error, { ...context, address: path });
    }
  }
  const { dir: privateDir, socket: privatePath } = privatePathsOf(path);
  const operation = {
    ...context,
    address: path,
    directory: directoryOf(path),
  };
  const paths = { dir: privateDir, socket: privatePath };
  const prefix = `${context.op} ${context.network} ${path}`;
  try {
    const leftover = await inspectPrivateDirectory(paths, removeStale, prefix);
    // No await from here to the end: see makePrivateDirectory.
    makePrivateDirectory(paths, leftover, prefix);
  } catch (error) {
    if (
      error instanceof Deno.errors.AddrInUse ||
      error instanceof Deno.errors.AlreadyExists
    ) throw error;
    throw annotate(error, operation);
  }
  let socket: T | undefined;
  try {
    socket = bind(privatePath);
    if (mode !== undefined) Deno.chmodSync(privatePath, mode);
    // Identify the file while it is in the private directory, where no one
    // else can swap it.
    const identity = identityAt(privatePath);
    Deno.linkSync(privatePath, path);
    return { socket, identity };
  } catch (error) {
    socket?.close();
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Deno.errors.AddrInUse(
        `${context.op} ${context.network} ${path}: another server or file took this path while this one started; stop the process that holds it or choose another path`,
        { cause: error },
      );
    }
    throw annotate(error, operation);
  } finally {
    removeQuietly(privatePath);
    removeQuietly(privateDir);
  }
}

/** The widest permission bits a socket file can have. */
const MAX_MODE = 0o777;

/** Throws unless `mode` is undefined or permission bits from 0o000 to 0o777. */
export function assertMode(mode: unknown, path?: string): void {
  if (mode === undefined) return;
  if (path !== undefined && isAbstractName(path)) {
    throw new TypeError(
      `options.mode applies to a socket file, and the abstract name ${
        socketPathText(path)
      } has none: leave mode out (any process in the network namespace can connect to an abstract name)`,
    );
  }
  if (typeof mode !== "number") {
    throw new TypeError(
      `options.mode must be a number of permission bits such as 0o600, got ${
        show(mode)
      }`,
    );
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > MAX_MODE) {
    throw new RangeError(
      `options.mode must be permission bits from 0o000 to 0o777 such as 0o600, got ${
        Number.isInteger(mode) ? `0o${mode.toString(8)}` : mode
      }`,
    );
  }
}

/** Throws unless `options` is an object (a socket path is required). */
export function assertPathOptions(options: unknown, name: string): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${name} must be an object with a path, such as { path: "/tmp/app.sock" }, got ${
        show(options)
      }`,
    );
  }
}

/**
 * Throws a RangeError if the private bind path of `path` (`DIR/.NAME/s`,
 * 3 bytes longer) does not fit `sun_path`.
 */
export function assertPrivatePathFits(path: string, what: string): void {
  if (isAbstractName(path)) return;
  const { socket } = privatePathsOf(path);
  const privateBytes = encoder.encode(socket).length;
  if (privateBytes > MAX_SOCKET_PATH_BYTES) {
    throw new RangeError(
      `options.path is too long for ${what}: it binds at ${socket} first (${privateBytes} bytes), and a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes (sun_path); choose a path of at most ${
        MAX_SOCKET_PATH_BYTES - (privateBytes - encoder.encode(path).length)
      } bytes`,
    );
  }
}

/**
 * The permissions to bind at `path` through its private directory: read and
 * write on both, and `unix:` grants for the path and the private bind path.
 */
export function privateBindPermissions(path: string): PathPermission[] {
  if (isAbstractName(path)) return [{ name: "net", path }];
  const { dir, socket } = privatePathsOf(path);
  return [
    { name: "read", path },
    { name: "read", path: dir },
    { name: "write", path },
    { name: "write", path: dir },
    { name: "net", path },
    { name: "net", path: socket },
  ];
}

/** Deno's name for the SOCK_DGRAM Unix transport. */
export const DATAGRAM = "unixpacket" as const;

/** The address of a sender bound to no path. */
const UNBOUND: Deno.UnixAddr = Object.freeze({ transport: DATAGRAM, path: "" });

/**
 * The sender of a received datagram, with `path: ""` for one bound to no
 * path (Deno gives `null` there, which the `Deno.UnixAddr` type does not allow).
 */
export function senderOf(from: Deno.Addr): Deno.UnixAddr {
  const addr = from as Deno.UnixAddr;
  return addr.path === null || addr.path === undefined ? UNBOUND : addr;
}

/**
 * Binds a datagram socket at `path`, which must be free (or stale, and
 * cleared). `address` is what the error messages name.
 */
export function bindDatagram(
  path: string,
  op: string,
  address: string = path,
): { socket: Deno.DatagramConn; identity: FileIdentity } {
  const operation = {
    op,
    network: DATAGRAM,
    address,
    directory: isAbstractName(path) ? undefined : directoryOf(path),
  };
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({ transport: DATAGRAM, path });
  } catch (error) {
    throw annotate(error, operation);
  }
  try {
    return { socket, identity: identityAt(path) };
  } catch (error) {
    socket.close();
    throw annotate(error, operation);
  }
}
