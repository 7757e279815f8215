/**
 * The file layout of a DiskTable (hash-table.ts): a 64-byte header (magic, version, bits), then 2^bits
 * slots of 32 bytes:
 *
 *   0  16 bytes  the key's 128-bit hash (see keyHash)
 *  16  u32 LE    segment id (0 = empty slot, 0xFFFFFFFF = stale; segments are numbered from 1)
 *  20  u32 LE    offset of the record in that segment
 *  24  u32 LE    record length
 *  28  u32       reserved (0)
 */
export const SLOT_BYTES = 32;
export const TABLE_HEADER = 64;
/** Slots per sequential read/write when scanning or rebuilding (4 MB). */
export const SCAN_SLOTS = 1 << 17;
/** A slot made stale on purpose (its record was lost in a crash): no segment ever has this id. */
export const STALE_SEGMENT = 0xffffffff;

/** Where slot `index` starts in the file. */
export const slotPosition = (index: number): number => TABLE_HEADER + index * SLOT_BYTES;
