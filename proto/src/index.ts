/**
 * The Quire protocol as generated TypeScript (ts-proto): message codecs with explicit
 * per-field encoders (no reflection on the hot path) and grpc-js service definitions.
 * Generated at build time from proto/quire into src/gen, which is not committed.
 */
export * from './gen/quire/v1/errors.js';
export * from './gen/quire/v1/kv.js';
export * from './gen/quire/v1/admin.js';
export * from './gen/quire/v1/internal/metadata.js';
export * from './gen/quire/v1/internal/datanode.js';
export * from './gen/quire/v1/internal/debug.js';
export * from './gen/quire/v1/internal/replication.js';
export * from './gen/quire/v1/internal/coordination.js';
