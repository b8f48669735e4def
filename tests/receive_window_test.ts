import { assertEquals } from "@std/assert";
import { PROBE_INTERVAL, ReceiveWindow } from "../_receive_window.ts";

/** Lets the microtask that ends a batch run. */
const endOfTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Delivers `count` completions in one turn of the event loop. */
async function batch(window: ReceiveWindow, count: number): Promise<void> {
  for (let i = 0; i < count; i++) window.completed();
  await endOfTurn();
}

/** Posts receives until the window is full. */
function fill(window: ReceiveWindow): void {
  while (window.hasRoom) window.posted();
}

Deno.test("ReceiveWindow starts with one receive in flight", () => {
  const window = new ReceiveWindow(16, () => {});
  assertEquals(window.size, 1);
  assertEquals(window.hasRoom, true);
  window.posted();
  assertEquals(window.hasRoom, false);
  assertEquals(window.pending, 1);
});

Deno.test("ReceiveWindow probes for two after PROBE_INTERVAL single batches", async () => {
  let grown = 0;
  const window = new ReceiveWindow(16, () => grown++);
  for (let i = 1; i < PROBE_INTERVAL; i++) {
    fill(window);
    await batch(window, 1);
    assertEquals(window.size, 1, `after batch ${i}`);
  }
  fill(window);
  await batch(window, 1);
  assertEquals(window.size, 2);
  assertEquals(grown, 1);
});

Deno.test("ReceiveWindow doubles while batches use every receive, up to its maximum", async () => {
  const window = new ReceiveWindow(16, () => {});
  for (let i = 0; i < PROBE_INTERVAL; i++) {
    fill(window);
    await batch(window, 1);
  }
  const sizes = [];
  for (let i = 0; i < 5; i++) {
    fill(window);
    await batch(window, window.size);
    sizes.push(window.size);
  }
  assertEquals(sizes, [4, 8, 16, 16, 16]);
});

Deno.test("ReceiveWindow shrinks by the receives a batch left waiting", async () => {
  const window = new ReceiveWindow(8, () => {});
  for (let i = 0; i < PROBE_INTERVAL; i++) {
    fill(window);
    await batch(window, 1);
  }
  for (let i = 0; i < 2; i++) {
    fill(window);
    await batch(window, window.size);
  }
  assertEquals(window.size, 8);
  fill(window);
  await batch(window, 5);
  assertEquals(window.size, 5);
  assertEquals(window.pending, 3);
  await batch(window, 1);
  assertEquals(window.size, 3);
  await batch(window, 1);
  assertEquals(window.size, 2);
  assertEquals(window.pending, 1);
  await batch(window, 1);
  assertEquals(window.size, 4, "a batch that used every receive grows it");
});

Deno.test("ReceiveWindow never shrinks below one", async () => {
  const window = new ReceiveWindow(4, () => {});
  for (let i = 0; i < PROBE_INTERVAL; i++) {
    fill(window);
    await batch(window, 1);
  }
  fill(window);
  assertEquals(window.pending, 2);
  await batch(window, 1);
  assertEquals(window.size, 1);
});

Deno.test("ReceiveWindow ignores failed receives when sizing", async () => {
  const window = new ReceiveWindow(4, () => {});
  window.posted();
  window.failed();
  await endOfTurn();
  assertEquals(window.pending, 0);
  assertEquals(window.size, 1);
});

Deno.test("ReceiveWindow of one never grows", async () => {
  let grown = 0;
  const window = new ReceiveWindow(1, () => grown++);
  for (let i = 0; i < 3 * PROBE_INTERVAL; i++) {
    fill(window);
    await batch(window, 1);
  }
  assertEquals(window.size, 1);
  assertEquals(grown, 0);
});
