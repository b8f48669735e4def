// Which connections the module's stream helpers read to the end of their
// input: what lets the stream engine skip lingering when it closes them.

/**
 * The readers on which a stream helper's read returned the end of input.
 * The server engine closes such a connection at once instead of lingering:
 * the peer has sent its FIN and everything before it was read, so no unread
 * input can turn the close into a reset. A weak set, so it holds nothing
 * alive, and a mark costs nothing per read, only once per connection.
 */
const inputEnded = new WeakSet<object>();

/** Notes that a read of `reader` by one of the module's helpers returned the end of input. */
export function markInputEnded(reader: object): void {
  inputEnded.add(reader);
}

/** Whether the module's helpers read `reader` to the end of its input. */
export function sawInputEnd(reader: object): boolean {
  return inputEnded.has(reader);
}
