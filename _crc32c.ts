// CRC32C (Castagnoli), the checksum of the PROXY protocol v2 header's
// PP2_TYPE_CRC32C field (RFC 3720 appendix B.4 gives the polynomial).

/** The reflected Castagnoli polynomial, 0x1EDC6F41 bit-reversed (RFC 3720 appendix B.4). */
const CASTAGNOLI_REFLECTED = 0x82f63b78;

/** One entry per byte value: the classic byte-at-a-time table. */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REFLECTED : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC32C of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
