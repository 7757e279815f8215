import { gzipSync } from 'node:zlib';
import { type Codec } from './parquet-thrift.js';
import { snappyCompress } from './snappy.js';

/*
 * Page codecs. SNAPPY is our own compressor (snappy.ts), GZIP is node:zlib. ZSTD is @bokuweb/zstd-wasm: the
 * reference libzstd compiled to WebAssembly, shipped inside the npm package (no download or build at install),
 * synchronous once its module is instantiated, and the same on every Node ≥ 20.19 (node:zlib has zstd only from
 * Node 22.15). Native bindings were ruled out: zstd-napi and @mongodb-js/zstd ≥ 2 fetch prebuilt binaries at
 * install, and @mongodb-js/zstd 1.x only compresses asynchronously, off the encoder's synchronous page path.
 */

export type Compression = keyof typeof Codec;
export const COMPRESSIONS: readonly Compression[] = ['SNAPPY', 'ZSTD', 'GZIP', 'UNCOMPRESSED'];

/** zstd's own default level: on the benchmark records as fast as SNAPPY end to end (see README). */
const ZSTD_LEVEL = 3;

type ZstdCompress = (input: Uint8Array, level: number) => Uint8Array;
let zstdCompress: ZstdCompress | undefined;
let zstdLoading: Promise<void> | undefined;

/** Loads what `compression` needs before the first page is compressed (only ZSTD needs anything: its wasm). */
export function prepareCompression(compression: Compression): Promise<void> {
  if (compression !== 'ZSTD' || zstdCompress) return Promise.resolve();
  zstdLoading ??= (async () => {
    // A CommonJS package: its module.exports is the default export.
    const zstd = (await import('@bokuweb/zstd-wasm')).default as unknown as {
      init(): Promise<void>;
      compress: ZstdCompress;
    };
    await zstd.init();
    zstdCompress = zstd.compress;
  })();
  return zstdLoading;
}

/** A page body compressed with `compression` (prepareCompression must have been awaited for ZSTD). */
export function compressPage(compression: Compression, body: Buffer): Buffer {
  switch (compression) {
    case 'UNCOMPRESSED':
      return body;
    case 'SNAPPY':
      return snappyCompress(body);
    case 'GZIP':
      return gzipSync(body);
    case 'ZSTD': {
      if (!zstdCompress) throw new Error('the ZSTD codec is not loaded: await prepareCompression("ZSTD") first');
      const out = zstdCompress(body, ZSTD_LEVEL);
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    }
  }
}
