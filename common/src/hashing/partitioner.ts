/**
 * Hash partitioning: partition = xxhash64(key, seed 0) mod partitionCount. The partition
 * count of a hash keyspace never changes, so keys never re-hash; partitions move between
 * nodes instead. xxhash64 comes from xxhash-wasm (the reference algorithm compiled to
 * WebAssembly, no native build step), loaded once per process.
 */
import xxhash from 'xxhash-wasm';

/** Maps keys to partitions. */
export interface HashPartitioner {
  /** Returns the 64-bit xxhash of `key` with seed 0. */
  hash64(key: Uint8Array): bigint;
  /** Returns the partition of `key` among `partitionCount` partitions. */
  partitionOf(key: Uint8Array, partitionCount: number): number;
}

/** Loads the hash function (compiles the WebAssembly module once). */
export async function loadHashPartitioner(): Promise<HashPartitioner> {
  const { h64Raw } = await xxhash();
  return {
    hash64: (key) => h64Raw(key, 0n),
    partitionOf: (key, partitionCount) => Number(h64Raw(key, 0n) % BigInt(partitionCount)),
  };
}
