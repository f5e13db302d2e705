// Public entry of @shardlab/audit: re-exports the pure checks (audit), their input read from a running network (collect) and the report's text (format)
/**
 * The cross-shard audit (docs/ARCHITECTURE.md §5): conservation of ether, atomicity of cross-shard
 * transactions and leftover locks, checked over every shard's blocks and accounts and the
 * orchestrator's blocks.
 *
 * - `auditNetwork` (pure): the checks, over an `AuditInput` (one module per invariant; the input
 *   and report types are in `report.ts`).
 * - `collectAuditInput` / `runAudit` (gRPC): read a running network found through the registry.
 * - `formatReport` (pure): the report for people.
 */
export * from './audit';
export * from './collect';
export * from './format';
