/**
 * The C library through Deno's FFI: the one place that finds it, opens it
 * and binds the few calls the descriptor entry point (`fd.ts`) needs. It is
 * opened on first use, never on import, so that importing needs no
 * permission.
 *
 * The layouts and numbers below are Linux's generic ABI, the same on
 * x86_64 and aarch64 (`<bits/socket.h>`, `<asm-generic/socket.h>`,
 * `<asm-generic/errno-base.h>`).
 *
 * @module
 */

import {
  assertSocketPath,
  isAbstractName,
  requirePermissions,
} from "./_socket_file.ts";

/** `AF_UNIX`. */
export const AF_UNIX = 1;
/** `SOCK_STREAM`. */
export const SOCK_STREAM = 1;
/** `SOCK_CLOEXEC`: the descriptor is not inherited by programs started later. */
export const SOCK_CLOEXEC = 0o2000000;
/** `SOL_SOCKET`. */
export const SOL_SOCKET = 1;
/** `SCM_RIGHTS`: control data carrying descriptors. */
export const SCM_RIGHTS = 1;
/** `SO_TYPE`. */
export const SO_TYPE = 3;
/** `SO_PEERCRED`: the peer's `struct ucred`. */
export const SO_PEERCRED = 17;
/** `SO_ACCEPTCONN`: 1 for a listening socket. */
export const SO_ACCEPTCONN = 30;
/** `SO_DOMAIN`. */
export const SO_DOMAIN = 39;
/** `AF_INET`. */
export const AF_INET = 2;
/** `AF_INET6`. */
export const AF_INET6 = 10;
/** `MSG_CTRUNC`: control data did not fit and was cut (descriptors lost). */
export const MSG_CTRUNC = 0x8;
/** `MSG_DONTWAIT`. */
export const MSG_DONTWAIT = 0x40;
/** `MSG_NOSIGNAL`: a closed peer gives `EPIPE`, not `SIGPIPE`. */
export const MSG_NOSIGNAL = 0x4000;
/** `MSG_CMSG_CLOEXEC`: received descriptors are close-on-exec. */
export const MSG_CMSG_CLOEXEC = 0x40000000;
/** `POLLIN`. */
export const POLLIN = 0x1;
/** `POLLOUT`. */
export const POLLOUT = 0x4;
/** `POLLERR`. */
export const POLLERR = 0x8;
/** `POLLHUP`. */
export const POLLHUP = 0x10;
/** `POLLNVAL`. */
export const POLLNVAL = 0x20;
/** `EINTR`. */
export const EINTR = 4;
/** `EAGAIN`. */
export const EAGAIN = 11;
/** `ENOTSOCK`. */
export const ENOTSOCK = 88;
/** `F_DUPFD_CLOEXEC`: a duplicate that is not inherited by programs started later. */
const F_DUPFD_CLOEXEC = 1030;
/** `S_IFMT`, and the file types of `st_mode` (`<sys/stat.h>`). */
const S_IFMT = 0o170000;
const S_IFIFO = 0o010000;
const S_IFREG = 0o100000;
const S_IFSOCK = 0o140000;
const S_IFCHR = 0o020000;

/** The names of a few errno values, for messages. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  14: "EFAULT",
  22: "EINVAL",
  24: "EMFILE",
  32: "EPIPE",
  88: "ENOTSOCK",
  92: "ENOPROTOOPT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  104: "ECONNRESET",
  107: "ENOTCONN",
  109: "ETOOMANYREFS",
  111: "ECONNREFUSED",
};

const SYMBOLS = {
  socketpair: {
    parameters: ["i32", "i32", "i32", "buffer"],
    result: "i32",
  },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // fcntl is variadic; its third argument is an int for F_DUPFD_CLOEXEC.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // The one blocking call: it runs on Deno's blocking pool, one at a time.
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Addresses as numbers rather than pointer objects: Deno's pointer API
  // (UnsafePointer.of, UnsafePointerView) needs a bare --allow-ffi, which a
  // grant scoped to the library's path does not give.
  __errno_location: { parameters: [], result: "usize" },
  // memcpy(buffer, buffer, 0) returns the buffer's address.
  addressOf: {
    name: "memcpy",
    parameters: ["buffer", "buffer", "usize"],
    result: "usize",
  },
  // memcpy(buffer, address, length) copies from memory the library owns.
  peek: {
    name: "memcpy",
    parameters: ["buffer", "usize", "usize"],
    result: "usize",
  },
} as const;

/** The bound C library. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The GNU multiarch triplets of the architectures Deno ships for. */
const TRIPLETS: Record<string, string> = {
  x86_64: "x86_64-linux-gnu",
  aarch64: "aarch64-linux-gnu",
};

/**
 * The places the C library is looked for, in order: Debian's and Ubuntu's
 * multiarch directories, then Fedora's and Arch's. An absolute path,
 * because a scoped `--allow-ffi=PATH` grant must name exactly the path
 * opened (Deno does not resolve symlinks, and reads `libc.so.6` alone as a
 * relative path).
 */
export function libcCandidates(): string[] {
  const triplet = TRIPLETS[Deno.build.arch] ?? `${Deno.build.arch}-linux-gnu`;
  return [
    `/lib/${triplet}/libc.so.6`,
    `/usr/lib/${triplet}/libc.so.6`,
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/usr/lib/libc.so.6",
    "/lib/libc.so.6",
  ];
}

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
let libraryPath: string | undefined;

function exists(path: string): boolean | undefined {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return undefined;
  }
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The path a grant should name: the first candidate known to exist, or
 * the first one when the files cannot be looked at.
 */
export function libcPath(): string {
  if (libraryPath !== undefined) return libraryPath;
  const candidates = libcCandidates();
  return candidates.find((path) => exists(path) === true) ?? candidates[0];
}

/**
 * Throws `Deno.errors.NotSupported` unless the platform is Linux.
 *
 * @param what What needs it, for the message.
 */
export function requireLinux(what: string): void {
  if (Deno.build.os !== "linux") {
    throw new Deno.errors.NotSupported(
      `${what}: not supported on ${Deno.build.os}; descriptors, socket pairs and peer credentials are available on Linux only`,
    );
  }
}

/**
 * The C library's calls, opening it on first use.
 *
 * @param what What needs it, for the messages: `"socketpair"`.
 * @throws {Deno.errors.NotSupported} On another system than Linux.
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for the library.
 */
export function libc(what: string): Libc {
  if (library !== undefined) return library.symbols;
  requireLinux(what);
  const candidates = libcCandidates();
  let permitted = false;
  let lastError: unknown;
  for (const path of candidates) {
    if (
      Deno.permissions.querySync({ name: "ffi", path }).state !== "granted"
    ) continue;
    permitted = true;
    try {
      library = Deno.dlopen(path, SYMBOLS);
      libraryPath = path;
      return library.symbols;
    } catch (error) {
      lastError = error;
    }
  }
  if (!permitted) {
    throw new Deno.errors.NotCapable(
      `${what}: calling the C library needs FFI permission; run again with --allow-ffi=${libcPath()} (or a bare --allow-ffi)`,
    );
  }
  throw new Deno.errors.NotFound(
    `${what}: the C library was not found at ${
      candidates.join(", ")
    }; grant --allow-ffi for the path of libc.so.6 on this system`,
    { cause: lastError },
  );
}

/** The calling thread's `errno`, read right after a failed call. */
export function errno(c: Libc): number {
  const value = new Int32Array(1);
  c.peek(value, c.__errno_location(), 4n);
  return value[0];
}

/** The address of `buffer`, to write into a C structure. */
export function addressOf(c: Libc, buffer: BufferSource): bigint {
  return BigInt(c.addressOf(buffer, buffer, 0n));
}

/** The error of a failed call, in the module's `op: cause` form. */
export function osError(what: string, code: number): Error {
  const name = ERRNO_NAMES[code] ?? `errno ${code}`;
  const message = `${what}: ${name}`;
  switch (code) {
    case 9:
      return new Deno.errors.BadResource(
        `${message}; the descriptor is not open`,
      );
    case 32:
      return new Deno.errors.BrokenPipe(`${message}; the peer has closed`);
    case 104:
      return new Deno.errors.ConnectionReset(message);
    case 111:
      return new Deno.errors.ConnectionRefused(message);
    case 98:
      return new Deno.errors.AddrInUse(
        `${message}; something is at this path already: remove a stale socket file, or choose another path`,
      );
    case 24:
      return new Error(
        `${message}; this process has too many descriptors open: close some, or raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit)`,
      );
    case 2:
      return new Deno.errors.NotFound(message);
    case 13:
    case 1:
      return new Deno.errors.PermissionDenied(message);
    default:
      return new Error(message);
  }
}

/** Throws the `errno` error when `result` is negative; returns it otherwise. */
export function check<T extends number | bigint>(
  c: Libc,
  what: string,
  result: T,
): T {
  if (result < 0) throw osError(what, errno(c));
  return result;
}

/** An `int` socket option of `fd`, or the errno when it has none. */
export function intOption(
  c: Libc,
  fd: number,
  option: number,
): number | { errno: number } {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  if (c.getsockopt(fd, SOL_SOCKET, option, value, length) < 0) {
    return { errno: errno(c) };
  }
  return value[0];
}

/**
 * What a descriptor is, by `fstat` and, for a socket, its options.
 *
 * @example What each end of a pair is
 * ```ts
 * import { descriptorPair, type DescriptorKind } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * const [a, b] = descriptorPair();
 * const kinds: DescriptorKind[] = [a.kind, b.kind];
 * assertEquals(kinds, ["stream", "stream"]);
 * a.close();
 * b.close();
 * ```
 */
export type DescriptorKind =
  | "stream"
  | "listener"
  | "datagram"
  | "socket"
  | "file"
  | "pipe"
  | "character device"
  | "other";

/** `st_mode`'s offset in `struct stat`: x86_64's layout, or the generic one (aarch64). */
const ST_MODE_OFFSET = Deno.build.arch === "x86_64" ? 24 : 16;
/** `sizeof(struct stat)`, rounded up for both layouts. */
const STAT_SIZE = 144;

/** Tells apart the kinds of descriptor a peer can pass. */
export function kindOf(c: Libc, fd: number): DescriptorKind {
  const stat = new Uint8Array(STAT_SIZE);
  check(c, `fstat ${fd}`, c.fstat(fd, stat));
  const mode = new DataView(stat.buffer).getUint32(ST_MODE_OFFSET, true) &
    S_IFMT;
  switch (mode) {
    case S_IFREG:
      return "file";
    case S_IFIFO:
      return "pipe";
    case S_IFCHR:
      return "character device";
    case S_IFSOCK: {
      const type = intOption(c, fd, SO_TYPE);
      if (type !== SOCK_STREAM) {
        return type === 2 ? "datagram" : "socket";
      }
      return intOption(c, fd, SO_ACCEPTCONN) === 1 ? "listener" : "stream";
    }
    default:
      return "other";
  }
}

/** `"unix"` or `"tcp"`: the family of a stream socket, for adopting it. */
export function familyOf(c: Libc, fd: number): "unix" | "tcp" | undefined {
  const domain = intOption(c, fd, SO_DOMAIN);
  if (domain === AF_UNIX) return "unix";
  if (domain === AF_INET || domain === AF_INET6) return "tcp";
  return undefined;
}

/** Closes `fd`, ignoring errors: used only for descriptors this module owns. */
export function closeQuietly(c: Libc, fd: number): void {
  c.close(fd);
}

/** `SOCK_NONBLOCK`. */
export const SOCK_NONBLOCK = 0o4000;

/** Makes a connected pair of Unix stream sockets, close-on-exec. */
export function socketPairFds(c: Libc, flags = 0): [number, number] {
  const pair = new Int32Array(2);
  check(
    c,
    "socketpair",
    c.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, pair),
  );
  return [pair[0], pair[1]];
}

/** A close-on-exec duplicate of `fd`, owned by the caller. */
export function duplicate(c: Libc, fd: number): number {
  return check(
    c,
    `fcntl ${fd} F_DUPFD_CLOEXEC`,
    c.fcntl(fd, F_DUPFD_CLOEXEC, 0),
  );
}

/** `F_SETFD`, and its one flag `FD_CLOEXEC` (`<fcntl.h>`). */
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/**
 * Makes `fd` close-on-exec, as systemd's `sd_listen_fds()` does with the
 * sockets it hands on: an inherited descriptor may lack the flag, and a
 * spawned program would then hold the socket open.
 */
export function closeOnExec(c: Libc, fd: number): void {
  check(c, `fcntl ${fd} F_SETFD FD_CLOEXEC`, c.fcntl(fd, F_SETFD, FD_CLOEXEC));
}

/**
 * A `struct sockaddr_un` for `path` (at most 107 bytes, checked by the
 * caller), as long as the address length to pass with it. An abstract name
 * (`"\0name"`) ends with its last byte: the kernel counts every byte up to
 * that length as part of the name, so a trailing NUL would make a name that
 * `Deno.connect`, socat and Python, which pass the exact length, never reach.
 */
export function socketAddress(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  const address = new Uint8Array(
    2 + (isAbstractName(path) ? bytes.length : 108),
  );
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(bytes, 2);
  return address;
}

/**
 * The path of a Unix socket's own end (`"local"`, getsockname) or its
 * peer's (`"remote"`, getpeername): a file path, an abstract name with its
 * leading NUL (`"\0name"`), or `""` for an unnamed socket, as Deno writes
 * a `Deno.UnixAddr`; `""` too when the call fails (a peer gone already).
 */
export function unixPathOf(
  c: Libc,
  fd: number,
  end: "local" | "remote",
): string {
  const address = new Uint8Array(2 + 108);
  const length = new Uint32Array([address.byteLength]);
  const call = end === "local" ? c.getsockname : c.getpeername;
  // A peer gone already (ENOTCONN) leaves no path to tell.
  if (call(fd, address, length) < 0) return "";
  const bytes = address.subarray(2, Math.min(length[0], address.byteLength));
  if (bytes[0] === 0) return new TextDecoder().decode(bytes);
  const end0 = bytes.indexOf(0);
  return new TextDecoder().decode(
    end0 === -1 ? bytes : bytes.subarray(0, end0),
  );
}

/**
 * A Unix stream socket connected to `path` (`op` "connect"), or bound and
 * listening there with `backlog` ("listen"), after checking the path and
 * the permissions `Deno.connect` and `Deno.listen` would need there: FFI
 * does not ask Deno, so the module does.
 */
export function unixSocketAt(
  op: "connect" | "listen",
  path: string,
  backlog = 0,
): number {
  assertSocketPath(path, "path");
  requirePermissions({ op, network: "unix", address: path }, [
    { name: "read", path },
    { name: "write", path },
    { name: "net", path },
  ]);
  const what = `${op} unix ${path}`;
  const c = libc(what);
  const fd = check(
    c,
    `${what}: socket`,
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
  );
  const address = socketAddress(path);
  const failed = op === "connect"
    ? c.connect(fd, address, address.byteLength) < 0
    : c.bind(fd, address, address.byteLength) < 0 || c.listen(fd, backlog) < 0;
  if (failed) {
    const code = errno(c);
    c.close(fd);
    throw osError(what, code);
  }
  return fd;
}
