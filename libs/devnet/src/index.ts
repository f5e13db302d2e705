// Public entry of @shardlab/devnet: re-exports the process network (devnet), service process control (processes), experiment targeting (target), the main job (job), its comparison (compare-job) and its list flags (job-flags)
/**
 * @shardlab/devnet — a local ShardLab network of separate processes, and the main job on it.
 *
 * - {@link startDevnet}: registry, state shards, orchestrator, simulator and gateway started as
 *   processes on free ports, each with its own data directory, healthy before it returns.
 * - `processes`: starting, stopping and health-waiting one service process; {@link REPO_ROOT}.
 * - {@link experimentTarget}, {@link runExperimentOn}: `runExperiment` aimed at a running network.
 * - {@link runJob}: the main job behind `npm start`; {@link runComparison}: the same workload on
 *   every listed protocol × placement, compared; `job-flags`: parsing `--protocol` and
 *   `--placement` lists.
 */
export * from './devnet';
export * from './processes';
export * from './target';
export * from './job';
export * from './job-flags';
export * from './compare-job';
export * from './audit-settle';
