import { assertEquals, assertThrows } from "@std/assert";
import { activatedListeners } from "../activation.ts";

const VARIABLES = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/** Sets the variables for one call, and checks the call unset them all. */
function withVariables(values: Record<string, string>, call: () => void) {
  for (const [name, value] of Object.entries(values)) Deno.env.set(name, value);
  try {
    call();
  } finally {
    for (const name of VARIABLES) {
      assertEquals(Deno.env.get(name), undefined, `${name} was not unset`);
    }
  }
}

Deno.test("activatedListeners() without LISTEN_FDS says how the program must be started", () => {
  withVariables({}, () => {
    assertThrows(
      () => activatedListeners(),
      Deno.errors.NotFound,
      "LISTEN_FDS is not set, so no sockets were passed to this process; start the program from a systemd .socket unit, or with systemd-socket-activate",
    );
  });
});

Deno.test("activatedListeners() refuses sockets meant for another process, and unsets the variables", () => {
  withVariables(
    { LISTEN_FDS: "1", LISTEN_PID: "1", LISTEN_FDNAMES: "web" },
    () => {
      assertThrows(
        () => activatedListeners(),
        Deno.errors.NotFound,
        `LISTEN_PID=1 names another process, not this one (${Deno.pid})`,
      );
    },
  );
});

Deno.test("activatedListeners() refuses malformed variables", () => {
  const pid = String(Deno.pid);
  withVariables({ LISTEN_FDS: "two", LISTEN_PID: pid }, () => {
    assertThrows(() => activatedListeners(), TypeError, 'got "two"');
  });
  withVariables({ LISTEN_FDS: "99999999999", LISTEN_PID: pid }, () => {
    assertThrows(() => activatedListeners(), TypeError, 'got "99999999999"');
  });
  withVariables(
    { LISTEN_FDS: "1", LISTEN_PID: pid, LISTEN_FDNAMES: "a:b" },
    () => {
      assertThrows(
        () => activatedListeners(),
        TypeError,
        'LISTEN_FDNAMES names 2 sockets ("a:b") but LISTEN_FDS passes 1',
      );
    },
  );
});

Deno.test("activatedListeners() with no sockets passed returns none", () => {
  withVariables({ LISTEN_FDS: "0", LISTEN_PID: String(Deno.pid) }, () => {
    assertEquals(activatedListeners(), []);
  });
});
