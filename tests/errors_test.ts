import {
  assertEquals,
  assertInstanceOf,
  assertStrictEquals,
} from "@std/assert";
import { annotate, permissionFlag } from "../_errors.ts";
import { joinHostPort } from "../_address.ts";

Deno.test("annotate() says that ports below 1024 need privilege", () => {
  const denied = new Deno.errors.PermissionDenied(
    "Permission denied (os error 13)",
  );
  const error = annotate(denied, {
    op: "listen",
    network: "tcp",
    address: "0.0.0.0:80",
    port: 80,
  });
  assertInstanceOf(error, Deno.errors.PermissionDenied);
  assertEquals(
    error.message,
    "listen tcp 0.0.0.0:80: permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a port from 1024 up, or grant the capability",
  );
  assertStrictEquals(error.cause, denied);
});

Deno.test("annotate() tells a taken socket file from a taken port", () => {
  const inUse = new Deno.errors.AddrInUse("Address in use");
  const unix = annotate(inUse, {
    op: "listen",
    network: "unix",
    address: "/tmp/s",
  });
  assertInstanceOf(unix, Deno.errors.AddrInUse);
  assertEquals(
    unix.message,
    "listen unix /tmp/s: the socket file is in use; stop the server that owns it or choose another path",
  );
  const tcp = annotate(inUse, {
    op: "listen",
    network: "tcp",
    address: "[::1]:8080",
    port: 8080,
  });
  assertInstanceOf(tcp, Deno.errors.AddrInUse);
  assertEquals(
    tcp.message,
    "listen tcp [::1]:8080: port 8080 is already in use; stop the process that holds it or choose another port (0 picks a free one)",
  );
});

Deno.test("annotate() passes aborts and non-errors through", () => {
  const abort = new DOMException("stopped", "AbortError");
  assertStrictEquals(
    annotate(abort, { op: "connect", network: "tcp", address: "x:1" }),
    abort,
  );
  assertStrictEquals(
    annotate("text", { op: "connect", network: "tcp", address: "x:1" }),
    "text",
  );
});

Deno.test("permissionFlag() scopes the flag to what was denied", () => {
  const net = new Deno.errors.NotCapable(
    'Requires net access to "127.0.0.1:5432", run again with the --allow-net flag',
  );
  assertEquals(permissionFlag(net), "--allow-net=127.0.0.1:5432");
  const read = new Deno.errors.NotCapable(
    'Requires read access to "/tmp/a.sock", run again with the --allow-read flag',
  );
  assertEquals(permissionFlag(read), "--allow-read=/tmp/a.sock");
  assertEquals(permissionFlag(new Error("other")), undefined);
});

Deno.test("joinHostPort() brackets IPv6 addresses", () => {
  assertEquals(joinHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assertEquals(joinHostPort("::1", 80), "[::1]:80");
});
